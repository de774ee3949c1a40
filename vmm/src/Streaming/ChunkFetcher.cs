using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Net;
using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;

namespace Bmcast.Vmm.Streaming;

// Makes absent chunks present on the local disk: an all-zero chunk (the
// manifest says so) by Write Zeroes, without a fetch; the others in runs of
// consecutive chunks, each run one AoE read (so the initiator's window stays
// full however few frames one chunk takes), hashed as its frames arrive
// (ArrivalHasher), each chunk checked against its SHA-256 in the manifest
// and its write queued on the private queue pair, while the rest of the run
// is still arriving (the controller writes while the host hashes). Only once
// the run's writes are reaped (the device has completed them) are its
// chunks marked present; a chunk that fails verification is never written,
// nor are the run's chunks after it. Synchronous: the caller is a doorbell exit or an idle HLT,
// the guest waits.
// A read the server does not answer fails after the initiator's bound (up to
// 8 sends with doubling timeouts: a few seconds); after that, fetches fail at
// once for ServerRetryMs, so that a guest whose server is gone gets its I/O
// errors promptly instead of waiting out the bound on every read.
internal static unsafe class ChunkFetcher
{
    private const ulong ServerRetryMs = 5000;
    // One AoE read covers up to this much (at least one chunk): 16 requests
    // of 17 sectors at MTU 9000 are 136 KiB, so two windows' worth.
    private const ulong RunBytes = 256 << 10;
    private static ulong s_serverLostAt;   // TSC at the last AoE failure; 0: none

    private static ManifestView s_manifest;
    private static AoeTarget s_image;
    private static byte* s_buffer;   // RunChunks * ChunkSize bytes, page aligned
    private static ulong s_runChunks;
    // The run being fetched: its first chunk, how many of its chunks have
    // their writes queued, how many are written (up to the first failed
    // write), why it stopped.
    private static ulong s_runFirst, s_runQueued, s_runWritten;
    private static FetchFailure s_runFailure;
    private static bool s_runBackground;

    public static ulong FetchedChunks, OnDemandBytes, BackgroundBytes, ZeroChunks, FetchUs, MaxFetchUs;

    // Chunks one AoE read may cover, and the buffer that takes them.
    public static ulong RunChunksFor(uint chunkSize)
    {
        ulong chunks = RunBytes / chunkSize;
        return chunks == 0 ? 1 : chunks > ArrivalHasher.MaxChunks ? ArrivalHasher.MaxChunks : chunks;
    }

    public static ulong BufferPagesFor(uint chunkSize) => ReservedMemory.PagesFor(RunChunksFor(chunkSize) * chunkSize);

    public static void Attach(ManifestView manifest, AoeTarget image, byte* buffer)
    {
        s_manifest = manifest;
        s_image = image;
        s_buffer = buffer;
        s_runChunks = RunChunksFor(manifest.ChunkSize);
    }

    public static ulong ImageSize => s_manifest.ImageSize;
    public static uint ChunkSize => s_manifest.ChunkSize;
    public static ulong RunChunks => s_runChunks;

    // Makes chunks first..first+count-1 present (those already present are
    // skipped); on failure, failed is the chunk that could not be made
    // present (the ones before it are).
    public static FetchFailure MakePresent(ulong first, ulong count, bool background, out ulong failed)
    {
        failed = first;
        ulong end = first + count;
        for (ulong c = first; c < end;)
        {
            if (ChunkMap.IsPresent(c))
            {
                c++;
                continue;
            }
            failed = c;
            if (s_manifest.IsZeroChunk(c))
            {
                FetchFailure zero = ZeroFill(c);
                if (zero != FetchFailure.None)
                    return zero;
                c++;
                continue;
            }
            ulong n = 1;
            while (n < s_runChunks && c + n < end && !ChunkMap.IsPresent(c + n) && !s_manifest.IsZeroChunk(c + n))
                n++;
            FetchFailure failure = FetchRun(c, n, background, out failed);
            if (failure != FetchFailure.None)
                return failure;
            c += n;
        }
        return FetchFailure.None;
    }

    private static FetchFailure ZeroFill(ulong chunk)
    {
        ulong lbaSize = HiddenTail.LbaSize;
        ulong lba = chunk * s_manifest.ChunkSize / lbaSize;
        ulong blocks = (s_manifest.ChunkLength(chunk) + lbaSize - 1) / lbaSize;
        if (!OnDisk(lba, blocks))
            return FetchFailure.Disk;
        ulong started = Clock.Now;
        if (!PrivateQueuePair.WriteZeroes(HiddenTail.Namespace, lba, blocks))
        {
            // A controller without Write Zeroes: write a zero buffer instead.
            Memory.Zero(s_buffer, (nuint)(blocks * lbaSize));
            if (!PrivateQueuePair.WriteRange(HiddenTail.Namespace, lba, blocks, s_buffer))
                return FetchFailure.Write;
        }
        FetchPhases.ZeroTicks += Clock.Now - started;
        ZeroChunks++;
        ChunkMap.MarkPresent(chunk);
        return FetchFailure.None;
    }

    // count absent non-zero chunks from first (count <= RunChunks): one AoE
    // read, each chunk hashed as it arrives and, once it matches, its write
    // queued while the rest of the run is still on the wire (WhileWaiting).
    // The writes are reaped at the run's end; only then are the chunks marked present.
    private static FetchFailure FetchRun(ulong first, ulong count, bool background, out ulong failed)
    {
        failed = first;
        ulong lbaSize = HiddenTail.LbaSize, chunkSize = s_manifest.ChunkSize;
        ulong last = first + count - 1;
        ulong bytes = (count - 1) * chunkSize + s_manifest.ChunkLength(last);
        if (!OnDisk(first * chunkSize / lbaSize, (bytes + lbaSize - 1) / lbaSize))
            return FetchFailure.Disk;
        if (s_serverLostAt != 0 && Clock.MsSince(s_serverLostAt) < ServerRetryMs)
            return FetchFailure.Aoe;
        ulong started = Clock.Now, busyBefore = FetchPhases.HashTicks + FetchPhases.WriteTicks;
        ArrivalHasher.Start(s_manifest, first, count, s_buffer);
        s_runFirst = first;
        s_runQueued = 0;
        s_runWritten = count;
        s_runFailure = FetchFailure.None;
        s_runBackground = background;
        ulong sectors = (bytes + AoeFrame.SectorSize - 1) / AoeFrame.SectorSize;
        if (!AoeInitiator.Read(ref s_image, first * chunkSize / AoeFrame.SectorSize, sectors, s_buffer, &WhileWaiting))
        {
            s_serverLostAt = Clock.Now;
            failed = first + ReapRun();
            return FetchFailure.Aoe;
        }
        s_serverLostAt = 0;
        // The wire's share: the read's time less the hashing and writing done while waiting in it.
        FetchPhases.AoeTicks += Clock.Now - started - (FetchPhases.HashTicks + FetchPhases.WriteTicks - busyBefore);
        ArrivalHasher.Finish();
        while (s_runFailure == FetchFailure.None && s_runQueued < count)
            QueueNext();
        ulong written = ReapRun();
        failed = first + written;
        if (written < s_runQueued)
            return FetchFailure.Write;
        if (s_runFailure != FetchFailure.None)
            return s_runFailure;
        ulong us = Clock.MicrosecondsSince(started);
        FetchUs += us;
        if (us > MaxFetchUs)
            MaxFetchUs = us;
        return FetchFailure.None;
    }

    // Called by the AoE read whenever no reply is waiting: hash a step of
    // what has arrived, and queue the next chunk's write if it is hashed and
    // matched; true if it did either.
    private static bool WhileWaiting(ulong arrived)
    {
        bool hashed = ArrivalHasher.Step(arrived);
        if (s_runFailure != FetchFailure.None || s_runQueued == ArrivalHasher.Hashed)
            return hashed;
        QueueNext();
        return true;
    }

    // Queues the writes of the run's next hashed chunk, in the private
    // pair's pieces (a mismatch is never written: the run stops there).
    private static void QueueNext()
    {
        ulong i = s_runQueued, chunk = s_runFirst + i;
        if (!ArrivalHasher.Matches(i))
        {
            s_runFailure = FetchFailure.Verify;
            return;
        }
        ulong lbaSize = HiddenTail.LbaSize, chunkSize = s_manifest.ChunkSize;
        ulong length = s_manifest.ChunkLength(chunk);
        ulong blocks = (length + lbaSize - 1) / lbaSize, lba = chunk * chunkSize / lbaSize;
        byte* data = s_buffer + i * chunkSize;
        // The image's last chunk may end inside a logical block: the rest is zeros.
        Memory.Zero(data + length, (nuint)(blocks * lbaSize - length));
        ulong started = Clock.Now;
        for (var piece = new TransferPieces(blocks, lbaSize); piece.Next();)
        {
            // Ids name the run's chunk (bits 8-13) and the piece (bits 0-7: 16 MiB chunks have 256).
            var id = (ushort)(i << 8 | (piece.Index & 0xFF));
            while (!PrivateQueuePair.TryQueueWrite(HiddenTail.Namespace, lba + piece.Offset, piece.Count, data + piece.Offset * lbaSize, id))
            {
                if (PrivateQueuePair.Queued == 0 || !ReapOne())
                {
                    s_runFailure = FetchFailure.Write;
                    FetchPhases.WriteTicks += Clock.Now - started;
                    return;
                }
            }
        }
        FetchPhases.WriteTicks += Clock.Now - started;
        s_runQueued++;
    }

    // One queued write's completion; a failed one stops the run's chunks at its own. False on timeout.
    private static bool ReapOne()
    {
        if (!PrivateQueuePair.Reap(out ushort id, out bool succeeded))
            return false;
        ulong i = (ulong)(id >> 8);
        if (!succeeded && i < s_runWritten)
            s_runWritten = i;
        return true;
    }

    // Waits for every queued write of the run, then marks its chunks present
    // up to the first that failed or was not queued; returns how many.
    private static ulong ReapRun()
    {
        ulong started = Clock.Now;
        while (PrivateQueuePair.Queued > 0)
        {
            if (!ReapOne())
                s_runWritten = 0;   // timed out: nothing is known written
        }
        FetchPhases.WriteTicks += Clock.Now - started;
        if (s_runWritten > s_runQueued)
            s_runWritten = s_runQueued;
        for (ulong i = 0; i < s_runWritten; i++)
        {
            ulong chunk = s_runFirst + i, length = s_manifest.ChunkLength(chunk);
            FetchedChunks++;
            if (s_runBackground)
                BackgroundBytes += length;
            else
                OnDemandBytes += length;
            ChunkMap.MarkPresent(chunk);
        }
        return s_runWritten;
    }

    private static bool OnDisk(ulong lba, ulong blocks) =>
        HiddenTail.Namespace != 0 && lba + blocks <= HiddenTail.FirstHiddenLba;
}
