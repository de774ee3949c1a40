using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// Crash-safe publication: a file is written under a temporary name, made durable, then renamed
/// into place and its directory entry made durable, so after a power cut a reader sees either
/// nothing or the complete file, never a prefix.
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

    /// <summary>Rename a durable directory into place and make the new name durable.</summary>
    public static void PublishDirectory(string temporaryPath, string finalPath)
    {
        Directory.Move(temporaryPath, finalPath);
        SyncDirectory(Path.GetDirectoryName(finalPath)!);
    }

    private static void Sync(SafeFileHandle handle, string path)
    {
        if (LibC.fsync(handle) != 0)
            throw LibC.Failure("fsync", path);
    }

    public static void SyncDirectory(string directory) => WithDirectory(directory, "fsync", LibC.fsync);

    /// <summary>Write back everything dirty on the file system holding <paramref name="directory"/>, and wait.</summary>
    public static void SyncFileSystem(string directory) => WithDirectory(directory, "syncfs", LibC.syncfs);

    private static void WithDirectory(string directory, string what, Func<int, int> call)
    {
        int fd = LibC.open(directory, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
        if (fd < 0)
            throw LibC.Failure("open", directory);
        try
        {
            if (call(fd) != 0)
                throw LibC.Failure(what, directory);
        }
        finally
        {
            LibC.close(fd);
        }
    }

    private const UnixFileMode DefaultMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
}
