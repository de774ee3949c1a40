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
internal static unsafe class ChunkFetcher
{
    private static ManifestView s_manifest;
    private static AoeTarget s_image;
    private static byte* s_buffer;   // ChunkSize bytes, page aligned

    public static ulong FetchedChunks, FetchedBytes, ZeroChunks, FetchUs, MaxFetchUs;

    public static void Attach(ManifestView manifest, AoeTarget image, byte* buffer)
    {
        s_manifest = manifest;
        s_image = image;
        s_buffer = buffer;
    }

    public static ulong ImageSize => s_manifest.ImageSize;
    public static uint ChunkSize => s_manifest.ChunkSize;

    public static FetchFailure MakePresent(ulong chunk)
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
            if (!PrivateQueuePair.WriteZeroes(ns, lba, blocks))
            {
                // A controller without Write Zeroes: write a zero buffer instead.
                Memory.Zero(s_buffer, (nuint)(blocks * lbaSize));
                if (!PrivateQueuePair.WriteRange(ns, lba, blocks, s_buffer))
                    return FetchFailure.Write;
            }
            ZeroChunks++;
            ChunkMap.MarkPresent(chunk);
            return FetchFailure.None;
        }
        ulong started = Clock.Now;
        ulong sectors = (length + AoeFrame.SectorSize - 1) / AoeFrame.SectorSize;
        if (!AoeInitiator.Read(ref s_image, chunk * s_manifest.ChunkSize / AoeFrame.SectorSize, sectors, s_buffer))
            return FetchFailure.Aoe;
        if (!s_manifest.ChunkMatches(chunk, s_buffer, length))
            return FetchFailure.Verify;
        // The last chunk may end inside a logical block: the rest is zeros.
        Memory.Zero(s_buffer + length, (nuint)(blocks * lbaSize - length));
        if (!PrivateQueuePair.WriteRange(ns, lba, blocks, s_buffer))
            return FetchFailure.Write;
        ulong us = Clock.MicrosecondsSince(started);
        FetchUs += us;
        if (us > MaxFetchUs)
            MaxFetchUs = us;
        FetchedChunks++;
        FetchedBytes += length;
        ChunkMap.MarkPresent(chunk);
        return FetchFailure.None;
    }
}
