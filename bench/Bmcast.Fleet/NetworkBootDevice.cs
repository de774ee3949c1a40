using System.Collections;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Fleet;

/// <summary>
/// A network boot as bench/deploy.sh's netboot runs it (QEMU straight on the server's export, <c>snapshot=on</c>), for the
/// replayed guest: reads go to the image server; writes go to a throwaway local overlay in clusters, as QEMU's temporary
/// qcow2 overlay takes them (64 KiB: a write into a cluster the overlay does not hold yet first copies the rest of the
/// cluster from the server), and reads of clusters the overlay holds come from it. What the replay then measures is what
/// the link, the server and the protocol cost the boot, without QEMU's own NBD client or an emulated CPU.
/// </summary>
internal sealed class NetworkBootDevice(NbdClient server, FileBlockDevice overlay) : IBlockDevice
{
    /// <summary>qcow2's default cluster size, which QEMU's temporary overlay keeps.</summary>
    private const int Cluster = 64 << 10;

    private readonly BitArray _inOverlay = new((int)((server.Size + Cluster - 1) / Cluster));
    /// <summary>Writes that allocate clusters go one at a time, as QEMU serializes allocations of one image.</summary>
    private readonly SemaphoreSlim _allocating = new(1, 1);

    public long Size => server.Size;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.WriteZeroes;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        // Pieces that lie wholly in clusters of one kind: the overlay's, or the server's.
        for (long at = offset, end = offset + buffer.Length; at < end;)
        {
            bool local = InOverlay(at);
            long pieceEnd = Math.Min(end, ClusterEnd(at));
            while (pieceEnd < end && InOverlay(pieceEnd) == local)
                pieceEnd = Math.Min(end, ClusterEnd(pieceEnd));
            var piece = buffer.Slice((int)(at - offset), (int)(pieceEnd - at));
            if (local)
                await overlay.ReadAsync(at, piece, ct);
            else
                await server.ReadAsync(at, piece, ct);
            at = pieceEnd;
        }
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
    {
        await AllocateAsync(offset, data.Length, ct);
        await overlay.WriteAsync(offset, data, forceUnitAccess, ct);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct)
    {
        await AllocateAsync(offset, length, ct);
        await overlay.WriteZeroesAsync(offset, length, forceUnitAccess, ct);
    }

    public ValueTask FlushAsync(CancellationToken ct) => overlay.FlushAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        await overlay.DisposeAsync();
    }

    /// <summary>Bring the clusters [offset, offset + length) touches into the overlay: the parts the write leaves from the server.</summary>
    private async Task AllocateAsync(long offset, long length, CancellationToken ct)
    {
        long end = offset + length;
        if (AllInOverlay(offset, end))
            return;
        await _allocating.WaitAsync(ct);
        try
        {
            for (long cluster = offset / Cluster; cluster * Cluster < end; cluster++)
            {
                if (_inOverlay[(int)cluster])
                    continue;
                long start = cluster * Cluster;
                await CopyFromServerAsync(start, Math.Min(offset, ClusterEnd(start)), ct);
                await CopyFromServerAsync(Math.Max(end, start), ClusterEnd(start), ct);
                lock (_inOverlay)
                    _inOverlay[(int)cluster] = true;
            }
        }
        finally
        {
            _allocating.Release();
        }
    }

    private async Task CopyFromServerAsync(long start, long end, CancellationToken ct)
    {
        if (end <= start)
            return;
        byte[] bytes = new byte[end - start];
        await server.ReadAsync(start, bytes, ct);
        await overlay.WriteAsync(start, bytes, false, ct);
    }

    private bool InOverlay(long offset)
    {
        lock (_inOverlay)
            return _inOverlay[(int)(offset / Cluster)];
    }

    private bool AllInOverlay(long offset, long end)
    {
        for (long at = offset; at < end; at = ClusterEnd(at))
            if (!InOverlay(at))
                return false;
        return true;
    }

    private long ClusterEnd(long offset) => Math.Min(Size, (offset / Cluster + 1) * Cluster);
}
