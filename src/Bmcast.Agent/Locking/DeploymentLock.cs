using Microsoft.Win32.SafeHandles;

namespace Bmcast.Agent.Locking;

/// <summary>
/// A deployment's claim on its target and state file, held for as long as bmcast uses them: the stream agent's life,
/// and <c>bmcast deploy</c>'s whole life including after the pivot, when QEMU holds the target. A second
/// <c>stream</c> or <c>deploy</c> on either is refused with the PID that holds it (issue 15, defect 2: two agents on
/// one target overwrote each other's acknowledged writes).
/// <para>
/// The lock is an OFD write lock on byte <see cref="Offset"/> (far beyond any image, where neither QEMU's lock bytes,
/// 100.. and 200.., nor data lie), so QEMU opens a target we hold as it would any file: the deploy's own pivot needs
/// that. QEMU's locks are respected the other way round: a target that a QEMU process holds with write permission is
/// refused too, as a second writer. A holder that only refuses to share writing (byte 201, no write of its own) does
/// not stop the stream: it stops the deploy's pivot, which is rolled back (<c>PivotFailureDeployTests</c>).
/// </para>
/// </summary>
public sealed class DeploymentLock : IDisposable
{
    /// <summary>The locked byte: 2^62 ("far beyond any disk").</summary>
    public const long Offset = 1L << 62;

    /// <summary>QEMU's "I hold write permission" byte (file-posix.c: RAW_LOCK_PERM_BASE 100 + BLK_PERM_WRITE, bit 1).</summary>
    private const long QemuWriteByte = 101;

    private SafeFileHandle? _target;
    private SafeFileHandle? _state;

    private DeploymentLock()
    {
    }

    /// <summary>
    /// Claims <paramref name="targetPath"/> and <paramref name="statePath"/>, those that exist; one that does not yet is
    /// claimed by <see cref="ClaimCreated"/> once the deployment has created it (nothing is created before the source
    /// and its manifest are accepted).
    /// </summary>
    /// <exception cref="IOException">Either is in use by another bmcast or by QEMU.</exception>
    public static DeploymentLock Acquire(string targetPath, string statePath)
    {
        var claim = new DeploymentLock();
        try
        {
            claim.ClaimCreated(targetPath, statePath);
            return claim;
        }
        catch
        {
            claim.Dispose();
            throw;
        }
    }

    /// <summary>Claims whichever of the target and state file exists and is not claimed yet.</summary>
    public void ClaimCreated(string targetPath, string statePath)
    {
        if (_target is null && File.Exists(targetPath))
        {
            _target = Claim(targetPath, "target");
            RefuseIfQemuWrites(_target, targetPath);
        }
        if (_state is null && File.Exists(statePath))
            _state = Claim(statePath, "state file");
    }

    private static SafeFileHandle Claim(string path, string role)
    {
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (OfdLock.TryLockExclusive(file, Offset, path))
            return file;
        file.Dispose();
        throw new IOException($"{role} {path} is in use by another bmcast deployment ({Holders(path, Offset)}): " +
            "refusing to start a second one on it (stop that one first)");
    }

    private static void RefuseIfQemuWrites(SafeFileHandle target, string path)
    {
        if (OfdLock.IsLockedByOther(target, QemuWriteByte, path))
            throw new IOException($"target {path} is in use by QEMU ({Holders(path, QemuWriteByte)}), which holds its write lock: refusing to stream onto it");
    }

    private static string Holders(string path, long offset) => LockHolders.Of(path, offset) switch
    {
        [] => "process unknown: not visible to this user",
        [var pid] => $"PID {pid}",
        var pids => $"PIDs {string.Join(", ", pids)}",
    };

    public void Dispose()
    {
        _target?.Dispose();
        _state?.Dispose();
    }
}
