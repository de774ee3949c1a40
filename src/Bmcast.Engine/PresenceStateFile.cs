using System.Buffers;
using System.Buffers.Binary;
using Bmcast.Core.Blocks;
using Bmcast.Core.Presence;
using Bmcast.Core.Storage;

namespace Bmcast.Engine;

/// <summary>
/// The persisted presence map: one header page, the slot table, then two slots per bitmap page
/// (<see cref="StatePageSlots"/>: each page is written to the slot not holding its last good content, and checked
/// by a checksum on load).
/// <code>
///   0  "BMCSTATE"   magic
///   8  u32 version = 2 (1, without slots and checksums, is refused)
///  12  u32 block size
///  16  u32 chunk size
///  20  u32 reserved (0)
///  24  u64 disk size
///  32  32 bytes image identity (manifest root hash, or a hash naming an unverified source)
///      (the rest of the page is zero; the whole header must equal the one expected, so it needs no checksum)
/// 4096 slot table pages (32 bytes per bitmap page), then slot 0 of every page, then slot 1 of every page
/// </code>
/// Why commits need no journal: bits only turn on, and a page is written only after the target's
/// data was flushed (<see cref="CommitAsync"/>); a crash, a torn or a failed write spoils at most the slot
/// being written, and the other holds the page as of its last completed commit. A page whose slots both
/// fail their checksum was damaged: nothing it claims is trusted. Each chunk it claims is re-hashed from
/// the target against the manifest and kept if it matches; the rest are cleared and fetched again (a
/// guest's writes there are lost: no trustworthy record of them survived). Without a manifest nothing can
/// be shown, and every chunk of the page is cleared.
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
    private const uint Version = 2;
    private static ReadOnlySpan<byte> Magic => "BMCSTATE"u8;

    private readonly IBlockDevice _device;
    private readonly StatePageSlots _slots;
    private readonly SemaphoreSlim _commitLock = new(1, 1);
    // Blocks whose data a successful flush of the target made durable: what a failed flush falls back to.
    private readonly PresenceMap _durable;
    private readonly Lock _marking = new();
    private long _failedFlushes;
    private int _failureUnreported;

    private PresenceStateFile(IBlockDevice device, PresenceMap map, PresenceMap durable, StatePageSlots slots)
    {
        _device = device;
        Map = map;
        _durable = durable;
        _slots = slots;
    }

    public PresenceMap Map { get; }

    /// <summary>What loading found damaged and did about it; null when every page had a slot that matched its checksum.</summary>
    public StateRepair? Repair { get; private init; }

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
        HeaderBytes + StatePageSlots.FileBytesFor(new PresenceMap(geometry.BlockCount).PageCount);

    /// <summary>
    /// Write a fresh, empty state (header, table and both slots of every page, so that commits need no new space) and
    /// make it durable.
    /// </summary>
    public static async Task<PresenceStateFile> CreateAsync(IBlockDevice device, DiskGeometry geometry, ReadOnlyMemory<byte> identity, CancellationToken ct)
    {
        var header = new byte[HeaderBytes];
        EncodeHeader(header, geometry, identity.Span);
        await device.WriteAsync(0, header, forceUnitAccess: false, ct);
        var map = new PresenceMap(geometry.BlockCount);
        var state = new PresenceStateFile(device, map, new PresenceMap(geometry.BlockCount), new StatePageSlots(map.PageCount));
        var empty = new byte[PresenceMap.PageBytes];
        var pages = Enumerable.Range(0, map.PageCount).ToList();
        foreach (int p in pages)
        {
            state._slots.Record(p, empty);
            for (int slot = 0; slot < 2; slot++)
                await device.WriteAsync(HeaderBytes + state._slots.SlotOffset(p, slot), empty, forceUnitAccess: false, ct);
        }
        await state.WriteTableAsync(pages, ct);
        await device.FlushAsync(ct);
        foreach (int p in pages)
            state._slots.Complete(p);
        return state;
    }

    /// <summary>
    /// Load a state written by <see cref="CreateAsync"/>, refusing one made for another disk or image, or in an older
    /// format. A page whose slots both fail their checksum is repaired: each chunk it claims is kept only if
    /// <paramref name="holdsImageData"/> (reads the chunk from the target and checks it against the manifest) says so;
    /// without it, nothing is kept. Repaired pages are written at the next commit; see <see cref="Repair"/>.
    /// </summary>
    public static async Task<PresenceStateFile> LoadAsync(IBlockDevice device, DiskGeometry geometry, ReadOnlyMemory<byte> identity, CancellationToken ct,
        Func<long, CancellationToken, ValueTask<bool>>? holdsImageData = null)
    {
        var map = new PresenceMap(geometry.BlockCount);
        var durable = new PresenceMap(geometry.BlockCount);
        var slots = new StatePageSlots(map.PageCount);
        var header = new byte[HeaderBytes];
        if (device.Size >= HeaderBytes)
            await device.ReadAsync(0, header, ct);
        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
            throw new InvalidDataException("not a bmcast state file (bad magic)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        if (version < Version)
            throw new InvalidDataException($"state file format {version} is from an older bmcast and has no checksums, so what it claims cannot be trusted: " +
                "finish the deployment with that version, or remove the state file and the target to start over");
        long expected = SizeFor(geometry);
        if (device.Size < expected)
            throw new InvalidDataException($"state file is {device.Size} bytes, expected {expected}: truncated or not a bmcast state file");
        var expectedHeader = new byte[HeaderBytes];
        EncodeHeader(expectedHeader, geometry, identity.Span);
        if (!header.AsSpan().SequenceEqual(expectedHeader))
            throw new InvalidDataException("state file belongs to a different disk geometry or image; remove it to start over");
        var page = new byte[PresenceMap.PageBytes];
        for (int t = 0; t < slots.TablePages; t++)
        {
            await device.ReadAsync(HeaderBytes + (long)t * PresenceMap.PageBytes, page, ct);
            slots.Decode(t, page);
        }
        var other = new byte[PresenceMap.PageBytes];
        var repair = new StateRepair();
        for (int p = 0; p < map.PageCount; p++)
        {
            await device.ReadAsync(HeaderBytes + slots.SlotOffset(p, 0), page, ct);
            await device.ReadAsync(HeaderBytes + slots.SlotOffset(p, 1), other, ct);
            int slot = slots.Choose(p, page, other);
            if (slot < 0)
            {
                await RepairPageAsync(p, page, other, geometry, map, holdsImageData, repair, ct);
                map.MarkPageDirty(p); // The next commit writes it, with its checksum.
            }
            else
            {
                if (slots.MayHaveLostACommit(p, slot, page, other))
                    repair.RolledBackPages++;
                map.LoadPage(p, slot == 0 ? page : other);
            }
            map.CopyPage(p, page);
            durable.LoadPage(p, page);
        }
        return new PresenceStateFile(device, map, durable, slots) { Repair = repair.DamagedPages + repair.RolledBackPages > 0 ? repair : null };
    }

    /// <summary>Keep, of the chunks either slot of a damaged page claims, those the target can be shown to hold (whole chunks only).</summary>
    private static async Task RepairPageAsync(int page, byte[] slot0, byte[] slot1, DiskGeometry geometry, PresenceMap map,
        Func<long, CancellationToken, ValueTask<bool>>? holdsImageData, StateRepair repair, CancellationToken ct)
    {
        repair.DamagedPages++;
        var claimed = new PresenceMap(geometry.BlockCount);
        claimed.LoadPage(page, slot0);
        claimed.LoadPage(page, slot1);
        const long blocksPerPage = PresenceMap.PageBytes * 8L;
        long firstChunk = page * blocksPerPage / geometry.BlocksPerChunk;
        long endChunk = Math.Min(geometry.ChunkCount, ((page + 1) * blocksPerPage + geometry.BlocksPerChunk - 1) / geometry.BlocksPerChunk);
        for (long chunk = firstChunk; chunk < endChunk; chunk++)
        {
            long first = geometry.FirstBlockOfChunk(chunk);
            int count = geometry.BlockCountOfChunk(chunk);
            if (claimed.RunLength(first, count, present: false) == count)
                continue;
            if (holdsImageData is not null && await holdsImageData(chunk, ct))
            {
                map.MarkPresent(first, count);
                repair.ChunksKept++;
            }
            else
                repair.ChunksCleared++;
        }
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
            if (pages.Count > 0)
            {
                for (int i = 0; i < pages.Count; i++)
                {
                    _slots.Record(pages[i], PageOf(snapshot, i).Span);
                    await _device.WriteAsync(NextSlotOffset(pages[i]), PageOf(snapshot, i), forceUnitAccess: false, ct);
                }
                await WriteTableAsync(pages, ct);
                await _device.FlushAsync(ct);
                // Only now: after a failure the next commit writes the same slot again, and the good one stays intact.
                foreach (int p in pages)
                    _slots.Complete(p);
            }
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

    /// <summary>Write the table pages that hold the entries of <paramref name="pages"/>.</summary>
    private async Task WriteTableAsync(IEnumerable<int> pages, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(PresenceMap.PageBytes);
        try
        {
            foreach (int t in pages.Select(StatePageSlots.TablePageOf).Distinct())
            {
                _slots.Encode(t, buffer);
                await _device.WriteAsync(HeaderBytes + (long)t * PresenceMap.PageBytes, buffer.AsMemory(0, PresenceMap.PageBytes), forceUnitAccess: false, ct);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Memory<byte> PageOf(byte[] pages, int index) => pages.AsMemory(index * PresenceMap.PageBytes, PresenceMap.PageBytes);

    /// <summary>Where the next commit writes <paramref name="page"/>.</summary>
    private long NextSlotOffset(int page) => HeaderBytes + _slots.SlotOffset(page, _slots.NextSlot(page));

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
