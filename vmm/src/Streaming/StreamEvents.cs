using Bmcast.Vmm.Net;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// The serial events the host side parses: one line each, starting
// "bmcast-vmm: event=NAME", then space-separated key=value pairs (keys
// [a-z_], values decimal, or a word for reason=, or hex for maps). Stable:
// documented in vmm/README.md, parsed by tests/Bmcast.Tests/Vmm/VmmEvent.cs.
internal static class StreamEvents
{
    private const ulong ProgressIntervalMs = 1000;

    private static ulong s_lastProgress, s_lastErrorAt, s_lastFailedChunk, s_suppressed;
    private static FetchFailure s_lastFailure;

    public static ulong GuestOwned, Commits;

    // event=resumed present=N sequence=N: the map read back from the hidden tail (sequence 0: none found).
    public static void Resumed(ulong sequence)
    {
        Serial.Write("bmcast-vmm: event=resumed");
        Field("present", ChunkMap.PresentCount);
        Field("chunks", ChunkMap.Chunks);
        Field("sequence", sequence);
        Serial.WriteLine();
    }

    // event=streaming image_bytes=N chunk_bytes=N chunks=N zero_chunks=N present=N reserved_bytes=N sha_ni=0|1
    public static void Started(ulong imageBytes, uint chunkBytes, ulong zeroChunks, ulong reservedBytes)
    {
        Serial.Write("bmcast-vmm: event=streaming");
        Field("image_bytes", imageBytes);
        Field("chunk_bytes", chunkBytes);
        Field("chunks", ChunkMap.Chunks);
        Field("zero_chunks", zeroChunks);
        Field("present", ChunkMap.PresentCount);
        Field("reserved_bytes", reservedBytes);
        Field("sha_ni", CpuFeatures.HasShaExtensions ? 1UL : 0UL);
        Serial.WriteLine();
        s_lastProgress = Clock.Now;
    }

    // event=progress ..., at most once a second (checked as chunks arrive).
    public static void Progress()
    {
        if (Clock.MsSince(s_lastProgress) < ProgressIntervalMs)
            return;
        s_lastProgress = Clock.Now;
        WriteProgress("progress");
    }

    // event=error reason=aoe|verify|write|disk|unsupported chunk=N [suppressed=N]: the command (or
    // background copy) that needed the chunk fails. The same failure of the same chunk again within
    // a second is only counted (a guest retrying a bad block, or reading on after its server went),
    // and the count is added to the next line printed.
    public static void Error(FetchFailure failure, ulong chunk)
    {
        if (failure == s_lastFailure && chunk == s_lastFailedChunk && Clock.MsSince(s_lastErrorAt) < ProgressIntervalMs)
        {
            s_suppressed++;
            return;
        }
        s_lastFailure = failure;
        s_lastFailedChunk = chunk;
        s_lastErrorAt = Clock.Now;
        Serial.Write("bmcast-vmm: event=error reason=");
        Serial.Write(failure switch
        {
            FetchFailure.Aoe => "aoe",
            FetchFailure.Verify => "verify",
            FetchFailure.Write => "write",
            FetchFailure.Disk => "disk",
            FetchFailure.Map => "map",
            _ => "unsupported",
        });
        Field("chunk", chunk);
        if (s_suppressed > 0)
        {
            Field("suppressed", s_suppressed);
            s_suppressed = 0;
        }
        Serial.WriteLine();
    }

    // Every chunk present and flushed: event=complete (the progress fields), the holds, both maps.
    public static void Completed()
    {
        WriteProgress("complete");
        WriteHolds();
        WritePresence();
    }

    // event=held: the guest is held at completion until the host answers (CompletionHold).
    public static void Held() => Serial.WriteLine("bmcast-vmm: event=held");

    // event=released reason=host|timeout held_ms=N
    public static void Released(bool byHost, ulong heldMs)
    {
        Serial.Write("bmcast-vmm: event=released reason=");
        Serial.Write(byHost ? "host" : "timeout");
        Field("held_ms", heldMs);
        Serial.WriteLine();
    }

    // At power-off: the last progress, the holds, and both maps.
    public static void Report()
    {
        WriteProgress("progress");
        WriteHolds();
        WritePresence();
    }

    // event=holds: the cost of holding doorbells (commands that waited for a fetch, and how long).
    private static void WriteHolds()
    {
        Serial.Write("bmcast-vmm: event=holds");
        Field("held_commands", StreamingPolicy.HeldCommands);
        Field("hold_us", StreamingPolicy.HoldUs);
        Field("max_hold_us", StreamingPolicy.MaxHoldUs);
        Field("fetch_us", ChunkFetcher.FetchUs);
        Field("max_fetch_us", ChunkFetcher.MaxFetchUs);
        Field("failed_commands", StreamingPolicy.FailedCommands);
        Field("map_commits", Commits);
        Field("write_claims", PendingWrites.Recorded);
        Field("claims_returned", PendingWrites.Returned);
        Serial.WriteLine();
    }

    // event=presence chunks=N present_map=HEX written_map=HEX
    private static void WritePresence()
    {
        Serial.Write("bmcast-vmm: event=presence");
        Field("chunks", ChunkMap.Chunks);
        Serial.Write(" present_map=");
        ChunkMap.WriteHex(false);
        Serial.Write(" written_map=");
        ChunkMap.WriteHex(true);
        Serial.WriteLine();
    }

    // " key=value", value in decimal.
    private static void Field(string key, ulong value)
    {
        Serial.Write(' ');
        Serial.Write(key);
        Serial.Write('=');
        Serial.WriteDecimal(value);
    }

    // event=NAME present=N chunks=N present_percent=P on_demand_bytes=N background_bytes=N fetched_chunks=N zero_filled=N guest_owned=N
    // background_us=N idle_slices=N idle_yields_io=N idle_yields_interrupt=N read_ahead_chunks=N aoe_us=N hash_us=N write_us=N zero_us=N frames_sent=N frames_received=N resends=N stale_replies=N
    // rx_tail_writes=N rx_tail_us=N tx_tail_writes=N tx_tail_us=N
    private static void WriteProgress(string name)
    {
        Serial.Write("bmcast-vmm: event=");
        Serial.Write(name);
        Field("present", ChunkMap.PresentCount);
        Field("chunks", ChunkMap.Chunks);
        Field("present_percent", ChunkMap.Chunks == 0 ? 100 : ChunkMap.PresentCount * 100 / ChunkMap.Chunks);
        Field("on_demand_bytes", ChunkFetcher.OnDemandBytes);
        Field("background_bytes", ChunkFetcher.BackgroundBytes);
        Field("fetched_chunks", ChunkFetcher.FetchedChunks);
        Field("zero_filled", ChunkFetcher.ZeroChunks);
        Field("guest_owned", GuestOwned);
        Field("background_us", BackgroundCopy.CopyUs);
        Field("idle_slices", BackgroundCopy.Slices);
        Field("idle_yields_io", BackgroundCopy.YieldsToIo);
        Field("idle_yields_interrupt", BackgroundCopy.YieldsToInterrupt);
        Field("read_ahead_chunks", ReadAhead.Chunks);
        Field("aoe_us", FetchPhases.Us(FetchPhases.AoeTicks));
        Field("hash_us", FetchPhases.Us(FetchPhases.HashTicks));
        Field("write_us", FetchPhases.Us(FetchPhases.WriteTicks));
        Field("zero_us", FetchPhases.Us(FetchPhases.ZeroTicks));
        Field("frames_sent", AoeInitiator.FramesSent);
        Field("frames_received", AoeInitiator.FramesReceived);
        Field("resends", AoeInitiator.Resends);
        Field("stale_replies", AoeInitiator.StaleReplies);
        Field("rx_tail_writes", E1000.RxTail.Count);
        Field("rx_tail_us", FetchPhases.Us(E1000.RxTail.Ticks));
        Field("tx_tail_writes", E1000.TxTail.Count);
        Field("tx_tail_us", FetchPhases.Us(E1000.TxTail.Ticks));
        Serial.WriteLine();
    }
}
