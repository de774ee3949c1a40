using System.Diagnostics;

namespace Bmcast.Engine.Tracing;

/// <summary>
/// Collects a guest's requests into preallocated segments (one allocation per <see cref="SegmentLength"/> requests, none
/// per request) until <see cref="Stop"/> at ready. Bounded: past <see cref="MaxRecords"/> it stops recording and the
/// trace is refused rather than cut short, since a replay of part of a boot would judge nothing.
/// </summary>
public sealed class IoTraceRecorder
{
    public const int SegmentLength = 1 << 14;
    public const int MaxRecords = 1 << 22;
    private readonly IoRecord[]?[] _segments = new IoRecord[MaxRecords / SegmentLength][];
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly Lock _lock = new();
    private int _count;
    private bool _stopped;
    private bool _overflowed;

    /// <summary>A timestamp for <see cref="Record"/>: now, as <see cref="Stopwatch.GetTimestamp"/>.</summary>
    public static long Now() => Stopwatch.GetTimestamp();

    /// <summary>Note a request that started at <paramref name="startTimestamp"/> (from <see cref="Now"/>) and has just completed.</summary>
    public void Record(long startTimestamp, IoKind kind, long offset, long length)
    {
        long end = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (_stopped)
                return;
            if (_count == MaxRecords)
            {
                _overflowed = true;
                return;
            }
            var segment = _segments[_count / SegmentLength] ??= new IoRecord[SegmentLength];
            segment[_count % SegmentLength] = new IoRecord(Micros(startTimestamp), Micros(end), kind, offset, length);
            _count++;
        }
    }

    /// <summary>
    /// End the recording now (the guest is ready): the requests completed so far, in start order, and now as the ready
    /// time. Requests still in flight are left out: they did not hold up ready.
    /// </summary>
    public IoTrace Stop()
    {
        long ready = Micros(Stopwatch.GetTimestamp());
        lock (_lock)
        {
            _stopped = true;
            if (_overflowed)
                throw new InvalidOperationException($"the boot made more than {MaxRecords} requests: no trace recorded");
            var records = new List<IoRecord>(_count);
            for (int i = 0; i < _count; i++)
                records.Add(_segments[i / SegmentLength]![i % SegmentLength]);
            records.Sort((a, b) => a.StartMicros.CompareTo(b.StartMicros));
            return new IoTrace(records, ready);
        }
    }

    private long Micros(long timestamp) => (long)Stopwatch.GetElapsedTime(_start, timestamp).TotalMicroseconds;
}
