using Bmcast.Agent.Locking;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Tests.Machines;

/// <summary>
/// Another program's claim on a disk file as QEMU's image locking sees it: an open file description lock on byte
/// 201, "I do not share write permission" in QEMU's lock-byte layout (200 + the WRITE permission bit). QEMU then opens
/// the file, but refuses any job that would write it ("Failed to get "write" lock"), as it would beside a backup tool
/// holding the image. Disposing releases it (closing the file drops its lock; .NET opens it close-on-exec, so no
/// child started meanwhile shares it).
/// </summary>
internal sealed class ForeignTargetLock : IDisposable
{
    private const long NoWriteSharingByte = 201;
    private readonly SafeFileHandle _file;

    public ForeignTargetLock(string path)
    {
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (!OfdLock.TryLockShared(_file, NoWriteSharingByte, path))
        {
            _file.Dispose();
            throw new IOException($"{path}: byte {NoWriteSharingByte} is locked exclusively by another program");
        }
    }

    public void Dispose() => _file.Dispose();
}
