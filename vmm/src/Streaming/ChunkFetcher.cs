using Bmcast.Vmm.Net;
using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;

namespace Bmcast.Vmm.Streaming;

// Makes one absent chunk present on the local disk: an all-zero chunk (the
// manifest says so) by Write Zeroes, without a fetch; any other by reading
// it over AoE, checking its SHA-256 against the manifest, and writing it
// through the private queue pair. Only then is it marked present (the
// device has completed the write); a chunk that fails verification is never
// written. Synchronous: the caller is a doorbell exit, the guest waits.
// A read the server does not answer fails after the initiator's bound (up to
// 8 sends with doubling timeouts: a few seconds); after that, fetches fail at
// once for ServerRetryMs, so that a guest whose server is gone gets its I/O
// errors promptly instead of waiting out the bound on every read.
internal static unsafe class ChunkFetcher
{
    private const ulong ServerRetryMs = 5000;
    private static ulong s_serverLostAt;   // TSC at the last AoE failure; 0: none

    private static ManifestView s_manifest;
    private static AoeTarget s_image;
    private static byte* s_buffer;   // ChunkSize bytes, page aligned

    public static ulong FetchedChunks, OnDemandBytes, BackgroundBytes, ZeroChunks, FetchUs, MaxFetchUs;

    public static void Attach(ManifestView manifest, AoeTarget image, byte* buffer)
    {
        s_manifest = manifest;
        s_image = image;
        s_buffer = buffer;
    }

    public static ulong ImageSize => s_manifest.ImageSize;
    public static uint ChunkSize => s_manifest.ChunkSize;

    public static FetchFailure MakePresent(ulong chunk, bool background)
    {
        ulong lbaSize = HiddenTail.LbaSize;
        ulong length = s_manifest.ChunkLength(chunk);
        ulong lba = chunk * s_manifest.ChunkSize / lbaSize;
        ulong blocks = (length + lbaSize - 1) / lbaSize;
        if (HiddenTail.Namespace == 0 || lba + blocks > HiddenTail.FirstHiddenLba)
            return FetchFailure.Disk;
        uint ns = HiddenTail.Namespace;
        if (s_manifest.IsZeroChunk(chunk))
        {
            ulong zeroStarted = Clock.Now;
            if (!PrivateQueuePair.WriteZeroes(ns, lba, blocks))
            {
                // A controller without Write Zeroes: write a zero buffer instead.
                Memory.Zero(s_buffer, (nuint)(blocks * lbaSize));
                if (!PrivateQueuePair.WriteRange(ns, lba, blocks, s_buffer))
                    return FetchFailure.Write;
            }
            FetchPhases.ZeroTicks += Clock.Now - zeroStarted;
            ZeroChunks++;
            ChunkMap.MarkPresent(chunk);
            return FetchFailure.None;
        }
        if (s_serverLostAt != 0 && Clock.MsSince(s_serverLostAt) < ServerRetryMs)
            return FetchFailure.Aoe;
        ulong started = Clock.Now;
        ulong sectors = (length + AoeFrame.SectorSize - 1) / AoeFrame.SectorSize;
        if (!AoeInitiator.Read(ref s_image, chunk * s_manifest.ChunkSize / AoeFrame.SectorSize, sectors, s_buffer))
        {
            s_serverLostAt = Clock.Now;
            return FetchFailure.Aoe;
        }
        s_serverLostAt = 0;
        ulong received = Clock.Now;
        FetchPhases.AoeTicks += received - started;
        bool matches = s_manifest.ChunkMatches(chunk, s_buffer, length);
        ulong hashed = Clock.Now;
        FetchPhases.HashTicks += hashed - received;
        if (!matches)
            return FetchFailure.Verify;
        // The last chunk may end inside a logical block: the rest is zeros.
        Memory.Zero(s_buffer + length, (nuint)(blocks * lbaSize - length));
        bool written = PrivateQueuePair.WriteRange(ns, lba, blocks, s_buffer);
        FetchPhases.WriteTicks += Clock.Now - hashed;
        if (!written)
            return FetchFailure.Write;
        ulong us = Clock.MicrosecondsSince(started);
        FetchUs += us;
        if (us > MaxFetchUs)
            MaxFetchUs = us;
        FetchedChunks++;
        if (background)
            BackgroundBytes += length;
        else
            OnDemandBytes += length;
        ChunkMap.MarkPresent(chunk);
        return FetchFailure.None;
    }
}
