using System.Buffers;
using System.Buffers.Binary;
using Bmcast.Core.Blocks;
using Bmcast.Core.Presence;
using Bmcast.Core.Storage;

namespace Bmcast.Engine;

/// <summary>
/// The persisted presence map: one header page, then the bitmap pages in order.
/// <code>
///   0  "BMCSTATE"   magic
///   8  u32 version = 1
///  12  u32 block size
///  16  u32 chunk size
///  20  u32 reserved (0)
///  24  u64 disk size
///  32  32 bytes image identity (manifest root hash, or a hash naming an unverified source)
/// 4096 bitmap page 0, page 1, ...
/// </code>
/// Why commits need no journal: bits only turn on, and a page is written only after the target's
/// data was flushed (<see cref="CommitAsync"/>). A torn page therefore mixes two states the map has
/// truly been in, each of which claims only durable blocks.
///
/// A failed flush of the target is the exception: Linux may drop the dirty pages it could not write
/// and report success to the next fsync, so nothing written before the failure can be trusted to be
/// durable. The map then takes back every block not made durable by an earlier successful flush (its
/// data is fetched and written again; see docs/engine.md "Disk faults"), and the next guest flush
/// reports the failure. Taken-back bits were never persisted, so persisted pages still only gain bits.
/// </summary>
public sealed class PresenceStateFile
{
    public const int IdentitySize = 32;
    private const int HeaderBytes = PresenceMap.PageBytes;
    private const uint Version = 1;
    private static ReadOnlySpan<byte> Magic => "BMCSTATE"u8;

    private readonly IBlockDevice _device;
    private readonly SemaphoreSlim _commitLock = new(1, 1);
    // Blocks whose data a successful flush of the target made durable: what a failed flush falls back to.
    private readonly PresenceMap _durable;
    private readonly Lock _marking = new();
    private long _failedFlushes;
    private int _failureUnreported;

    private PresenceStateFile(IBlockDevice device, PresenceMap map, PresenceMap durable)
    {
        _device = device;
        Map = map;
        _durable = durable;
    }

    public PresenceMap Map { get; }

    /// <summary>Failed flushes of the target so far. A write records it before it starts, to mark its blocks present with.</summary>
    public long FailedFlushes => Volatile.Read(ref _failedFlushes);

    /// <summary>
    /// Mark blocks present whose data was written while <see cref="FailedFlushes"/> was
    /// <paramref name="failedFlushesBefore"/>. Refused when a flush failed since: the data may be lost.
    /// </summary>
    public bool TryMarkPresent(long first, long count, long failedFlushesBefore)
    {
        lock (_marking)
        {
            if (_failedFlushes != failedFlushesBefore)
                return false;
            Map.MarkPresent(first, count);
            return true;
        }
    }

    /// <summary>Bytes a state file for <paramref name="geometry"/> occupies.</summary>
    public static long SizeFor(DiskGeometry geometry) =>
        HeaderBytes + (long)new PresenceMap(geometry.BlockCount).PageCount * PresenceMap.PageBytes;

    /// <summary>Write a fresh, empty state (header and every page) and make it durable.</summary>
    public static async Task<PresenceStateFile> CreateAsync(IBlockDevice device, DiskGeometry geometry, ReadOnlyMemory<byte> identity, CancellationToken ct)
    {
        var header = new byte[HeaderBytes];
        EncodeHeader(header, geometry, identity.Span);
        await device.WriteAsync(0, header, forceUnitAccess: false, ct);
        var state = new PresenceStateFile(device, new PresenceMap(geometry.BlockCount), new PresenceMap(geometry.BlockCount));
        state.Map.MarkAllPagesDirty();
        await state.WritePagesAsync(state.Map.TakeDirtyPages(), ct);
        await device.FlushAsync(ct);
        return state;
    }

    /// <summary>Load a state written by <see cref="CreateAsync"/>, refusing one made for another disk or image.</summary>
    public static async Task<PresenceStateFile> LoadAsync(IBlockDevice device, DiskGeometry geometry, ReadOnlyMemory<byte> identity, CancellationToken ct)
    {
        var map = new PresenceMap(geometry.BlockCount);
        var durable = new PresenceMap(geometry.BlockCount);
        long expected = SizeFor(geometry);
        if (device.Size < expected)
            throw new InvalidDataException($"state file is {device.Size} bytes, expected {expected}: truncated or not a bmcast state file");
        var header = new byte[HeaderBytes];
        await device.ReadAsync(0, header, ct);
        var expectedHeader = new byte[HeaderBytes];
        EncodeHeader(expectedHeader, geometry, identity.Span);
        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
            throw new InvalidDataException("not a bmcast state file (bad magic)");
        if (!header.AsSpan().SequenceEqual(expectedHeader))
            throw new InvalidDataException("state file belongs to a different disk geometry or image; remove it to start over");
        var page = new byte[PresenceMap.PageBytes];
        for (int p = 0; p < map.PageCount; p++)
        {
            await device.ReadAsync(PageOffset(p), page, ct);
            map.LoadPage(p, page);
            durable.LoadPage(p, page);
        }
        return new PresenceStateFile(device, map, durable);
    }

    /// <summary>
    /// Make the target's data durable, then persist every page that changed. Called on guest FLUSH,
    /// FUA writes, once a second, and at completion. Serialized: a flush that arrives during a commit
    /// waits and commits again, because its writes may postdate the running commit's snapshot.
    /// With <paramref name="forGuest"/>, a flush of the target that failed earlier in a commit the
    /// guest did not hear of fails this one: the guest's writes before it may be lost.
    /// </summary>
    public async Task CommitAsync(IBlockDevice target, bool forGuest, CancellationToken ct)
    {
        await _commitLock.WaitAsync(ct);
        var pages = new List<int>();
        byte[]? snapshot = null;
        try
        {
            // Copy the pages before flushing the target: every bit in the copy was set after its data
            // reached the target, so the flush below makes all of that data durable first. Bits set
            // during the flush wait for the next commit.
            pages = Map.TakeDirtyPages();
            snapshot = ArrayPool<byte>.Shared.Rent(Math.Max(1, pages.Count) * PresenceMap.PageBytes);
            for (int i = 0; i < pages.Count; i++)
                Map.CopyPage(pages[i], PageOf(snapshot, i).Span);
            await FlushTargetAsync(target, forGuest, ct);
            for (int i = 0; i < pages.Count; i++)
                _durable.LoadPage(pages[i], PageOf(snapshot, i).Span);
            for (int i = 0; i < pages.Count; i++)
                await _device.WriteAsync(PageOffset(pages[i]), PageOf(snapshot, i), forceUnitAccess: false, ct);
            if (pages.Count > 0)
                await _device.FlushAsync(ct);
        }
        catch
        {
            foreach (int p in pages)
                Map.MarkPageDirty(p);
            throw;
        }
        finally
        {
            if (snapshot is not null)
                ArrayPool<byte>.Shared.Return(snapshot);
            _commitLock.Release();
        }
        if (forGuest && Interlocked.Exchange(ref _failureUnreported, 0) != 0)
            throw new BlockDeviceException(BlockDeviceException.EIO,
                "an earlier flush of the target failed: writes made before it may be lost");
    }

    private async Task FlushTargetAsync(IBlockDevice target, bool forGuest, CancellationToken ct)
    {
        try
        {
            await target.FlushAsync(ct);
        }
        catch (IOException)
        {
            TakeBackUndurableBlocks();
            // The guest hears of it now if this is its flush, else at its next one.
            Volatile.Write(ref _failureUnreported, forGuest ? 0 : 1);
            throw;
        }
    }

    /// <summary>After a failed flush: forget every block whose data no successful flush made durable.</summary>
    private void TakeBackUndurableBlocks()
    {
        var current = new byte[PresenceMap.PageBytes];
        var durable = new byte[PresenceMap.PageBytes];
        lock (_marking)
        {
            _failedFlushes++;
            for (int p = 0; p < Map.PageCount; p++)
            {
                Map.CopyPage(p, current);
                _durable.CopyPage(p, durable);
                if (!current.AsSpan().SequenceEqual(durable))
                    Map.RestorePage(p, durable);
            }
        }
    }

    private async Task WritePagesAsync(List<int> pages, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(PresenceMap.PageBytes);
        try
        {
            foreach (int p in pages)
            {
                Map.CopyPage(p, buffer.AsSpan(0, PresenceMap.PageBytes));
                await _device.WriteAsync(PageOffset(p), buffer.AsMemory(0, PresenceMap.PageBytes), forceUnitAccess: false, ct);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Memory<byte> PageOf(byte[] pages, int index) => pages.AsMemory(index * PresenceMap.PageBytes, PresenceMap.PageBytes);

    private static long PageOffset(int page) => HeaderBytes + (long)page * PresenceMap.PageBytes;

    private static void EncodeHeader(Span<byte> header, DiskGeometry geometry, ReadOnlySpan<byte> identity)
    {
        if (identity.Length != IdentitySize)
            throw new ArgumentException($"image identity must be {IdentitySize} bytes");
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)geometry.BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], (uint)geometry.ChunkSize);
        BinaryPrimitives.WriteUInt64LittleEndian(header[24..], (ulong)geometry.Size);
        identity.CopyTo(header[32..]);
    }
}
