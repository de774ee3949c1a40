using System.Buffers;
using Bmcast.Core.Storage;

namespace Bmcast.Engine.Tracing;

/// <summary>
/// Replays a boot trace against a disk with its think times, and says when the replayed guest would have been ready.
/// Causality is kept, not the recorded clock: a request is issued once every request that had completed before it
/// started (in the recording) has completed here, and then after the same think time the recording had since the last
/// of them; with none, at its recorded start. Requests that overlapped in the recording overlap here. Ready is the
/// recorded gap after the last completion, from that completion. So a slower disk delays ready by what its slowness
/// holds up, and a faster one lets the replay run ahead of the recording. Waits shorter than a millisecond are not
/// taken (timers are not that fine): the replay may run ahead by those, on every disk alike.
/// </summary>
public static class IoTraceReplay
{
    private static readonly TimeSpan ShortestWait = TimeSpan.FromMilliseconds(1);

    /// <summary>Replay <paramref name="trace"/> on <paramref name="device"/>: time-to-ready from the call. A failed request fails the replay.</summary>
    public static Task<TimeSpan> RunAsync(IoTrace trace, IBlockDevice device, CancellationToken ct) =>
        RunAsync(trace, device, TimeProvider.System, ct);

    /// <summary>As <see cref="RunAsync(IoTrace, IBlockDevice, CancellationToken)"/>, with think times and ready taken on <paramref name="time"/>.</summary>
    public static async Task<TimeSpan> RunAsync(IoTrace trace, IBlockDevice device, TimeProvider time, CancellationToken ct)
    {
        var records = trace.Records;
        int count = records.Count;
        var byEnd = Enumerable.Range(0, count).OrderBy(i => records[i].EndMicros).ToArray();
        var finished = new long[count];
        var requests = new Task[count];
        byte[] zeroes = new byte[records.Where(r => r.Kind == IoKind.Write).Select(r => r.Length).DefaultIfEmpty(0).Max()];
        var clock = new ReplayClock(time);
        int completed = 0;
        for (int i = 0; i < count; i++)
        {
            var record = records[i];
            long due = record.StartMicros;
            // Every request the recording had finished before this one started, in the order they finished.
            while (completed < count && records[byEnd[completed]].EndMicros <= record.StartMicros)
            {
                int before = byEnd[completed++];
                await requests[before];
                due = finished[before] + (record.StartMicros - records[before].EndMicros);
            }
            await WaitUntilAsync(clock, due, ct);
            requests[i] = IssueAsync(device, record, zeroes, clock, finished, i, ct);
        }
        await Task.WhenAll(requests);
        long ready = trace.ReadyMicros;
        if (count > 0)
        {
            int last = byEnd[^1];
            ready = finished[last] + (trace.ReadyMicros - records[last].EndMicros);
        }
        await WaitUntilAsync(clock, ready, ct);
        return clock.Elapsed;
    }

    private static async Task IssueAsync(IBlockDevice device, IoRecord record, byte[] zeroes, ReplayClock clock, long[] finished, int index, CancellationToken ct)
    {
        switch (record.Kind)
        {
            case IoKind.Read:
                byte[] buffer = ArrayPool<byte>.Shared.Rent((int)record.Length);
                try
                {
                    await device.ReadAsync(record.Offset, buffer.AsMemory(0, (int)record.Length), ct);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                break;
            case IoKind.Write:
                await device.WriteAsync(record.Offset, zeroes.AsMemory(0, (int)record.Length), false, ct);
                break;
            case IoKind.WriteZeroes:
                await device.WriteZeroesAsync(record.Offset, record.Length, false, ct);
                break;
            case IoKind.Flush:
                await device.FlushAsync(ct);
                break;
        }
        finished[index] = (long)clock.Elapsed.TotalMicroseconds;
    }

    private static async Task WaitUntilAsync(ReplayClock clock, long dueMicros, CancellationToken ct)
    {
        var wait = TimeSpan.FromMicroseconds(dueMicros) - clock.Elapsed;
        if (wait >= ShortestWait)
            await Task.Delay(wait, clock.Time, ct);
    }

    /// <summary>Time since the replay began, on the replay's time provider.</summary>
    private sealed class ReplayClock(TimeProvider time)
    {
        private readonly long _start = time.GetTimestamp();

        public TimeProvider Time => time;

        public TimeSpan Elapsed => time.GetElapsedTime(_start);
    }
}
