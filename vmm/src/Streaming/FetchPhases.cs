using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// Where a fetch's time goes, summed over every fetched chunk in TSC ticks
// (converted once, when printed, so short phases do not round away): the
// SHA-256 checks, the writes through the private queue pair, and the AoE
// read's time less the hashing and writing done inside it while waiting for
// replies (what the wire alone cost): the three add up to the fetch time.
// All-zero chunks' Write Zeroes apart. Printed in event=progress and
// event=complete (StreamEvents).
internal static class FetchPhases
{
    public static ulong AoeTicks, HashTicks, WriteTicks, ZeroTicks;

    public static ulong Us(ulong ticks) => Clock.TicksPerMs == 0 ? 0 : ticks * 1000 / Clock.TicksPerMs;
}
