using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// Where a fetch's time goes, summed over every fetched chunk in TSC ticks
// (converted once, when printed, so short phases do not round away): the
// AoE read (first request until the last reply arrived), the SHA-256 check,
// and the write through the private queue pair; all-zero chunks' Write
// Zeroes apart. Printed in event=progress and event=complete (StreamEvents).
internal static class FetchPhases
{
    public static ulong AoeTicks, HashTicks, WriteTicks, ZeroTicks;

    public static ulong Us(ulong ticks) => Clock.TicksPerMs == 0 ? 0 : ticks * 1000 / Clock.TicksPerMs;
}
