using Bmcast.Agent.Host;

namespace Bmcast.TestKit.Mounts;

/// <summary>
/// A size-limited tmpfs mounted on a directory: a target disk that fills up, and gets its space back
/// by a remount with a larger size. Mounting needs root. Disposing unmounts it.
/// </summary>
public sealed class TmpfsMount : IAsyncDisposable
{
    private TmpfsMount(string directory) => Directory = directory;

    public string Directory { get; }

    /// <summary>Bytes still free on the file system.</summary>
    public long FreeBytes => new DriveInfo(Directory).AvailableFreeSpace;

    public static async Task<TmpfsMount> MountAsync(string directory, long size, CancellationToken ct)
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("this needs root: it mounts a size-limited tmpfs for the target disk");
        System.IO.Directory.CreateDirectory(directory);
        await AptPackages.RunAsync("mount", $"-t tmpfs -o size={size} bmcast-chaos {directory}", ct);
        return new TmpfsMount(directory);
    }

    /// <summary>Give the file system <paramref name="size"/> bytes in all, e.g. to return space to a full one.</summary>
    public Task ResizeAsync(long size, CancellationToken ct) => AptPackages.RunAsync("mount", $"-o remount,size={size} {Directory}", ct);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await AptPackages.RunAsync("umount", Directory, CancellationToken.None);
        }
        catch (IOException)
        {
            // Still busy (a process that failed to stop): detach it now, the kernel frees it when the last file closes.
            await AptPackages.RunAsync("umount", $"--lazy {Directory}", CancellationToken.None);
        }
    }
}
