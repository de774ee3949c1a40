using Microsoft.Win32.SafeHandles;

namespace Bmcast.Core.Storage;

/// <summary>Where a device's bytes lie in a file: from <paramref name="Offset"/> in <paramref name="File"/> (see <see cref="IBlockDevice.TryLocateInFile"/>).</summary>
public readonly record struct FilePosition(SafeFileHandle File, long Offset);
