using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// The pieces of crash-safe publication: write under a temporary name and make it durable, rename
/// into place without clobbering, then make the directory entry durable; after a power cut a reader
/// sees either nothing or the complete file or directory, never a prefix.
/// </summary>
internal static class DurableFile
{
    /// <summary>Create <paramref name="path"/> (which must not exist) holding exactly <paramref name="data"/>, durably.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> data, UnixFileMode mode = DefaultMode)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = mode;
        using var file = new FileStream(path, options);
        file.Write(data);
        Sync(file.SafeFileHandle, path);
    }

    /// <summary>
    /// Rename unless <paramref name="finalPath"/> exists, atomically (renameat2 RENAME_NOREPLACE):
    /// File.Move without overwrite checks and renames in two steps, so two racing writers could both
    /// succeed. Returns false when the target already existed. The new name is not yet durable.
    /// </summary>
    public static bool RenameNoReplace(string temporaryPath, string finalPath)
    {
        if (LibC.renameat2(LibC.AT_FDCWD, temporaryPath, LibC.AT_FDCWD, finalPath, LibC.RENAME_NOREPLACE) == 0)
            return true;
        if (Marshal.GetLastPInvokeError() == LibC.EEXIST)
            return false;
        throw LibC.Failure("rename", finalPath);
    }

    private static void Sync(SafeFileHandle handle, string path)
    {
        if (LibC.fsync(handle) != 0)
            throw LibC.Failure("fsync", path);
    }

    private const UnixFileMode DefaultMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
}
