using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Bmcast.Images;

/// <summary>
/// What identifies a source file's content without reading it: device and inode (a file replaced by a rename is
/// another file), size, and modification and change times (ctime cannot be set back by the writer). Taken before and
/// after an import, a difference means the image was read while it changed and the stored copy may mix two versions.
/// </summary>
public readonly partial record struct SourceFileState(ulong Device, ulong Inode, long Size, DateTimeOffset Modified, DateTimeOffset Changed)
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int StatxSize = 256;

    public static SourceFileState Of(string path)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        if (statx(AtFdCwd, path, 0, StatxBasicStats, ref MemoryMarshal.GetReference(buffer)) != 0)
            throw new ImageStoreException($"cannot stat {path}: errno {Marshal.GetLastPInvokeError()}");
        // struct statx (linux/stat.h): the same layout on every architecture.
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer[32..]);
        long size = BinaryPrimitives.ReadInt64LittleEndian(buffer[40..]);
        ulong device = (ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer[136..]) << 32 | BinaryPrimitives.ReadUInt32LittleEndian(buffer[140..]);
        return new SourceFileState(device, inode, size, Time(buffer[112..]), Time(buffer[96..]));
    }

    /// <summary>What differs from <paramref name="before"/>, for an error message; null when nothing does.</summary>
    public string? DifferenceFrom(SourceFileState before) =>
        (Device, Inode) != (before.Device, before.Inode) ? "it was replaced by another file"
        : Size != before.Size ? $"its size went from {before.Size} to {Size} bytes"
        : Modified != before.Modified || Changed != before.Changed ? "it was written to"
        : null;

    private static DateTimeOffset Time(ReadOnlySpan<byte> timestamp) =>
        DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64LittleEndian(timestamp))
            .AddTicks(BinaryPrimitives.ReadUInt32LittleEndian(timestamp[8..]) / 100);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}
