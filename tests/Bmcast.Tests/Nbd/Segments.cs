using System.Buffers;

namespace Bmcast.Tests.Nbd;

/// <summary>Builds multi-segment sequences so parsers meet headers that straddle segment boundaries.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Split(byte[] data, int segmentSize)
    {
        if (data.Length == 0)
            return ReadOnlySequence<byte>.Empty;
        var first = new Segment(data.AsMemory(0, Math.Min(segmentSize, data.Length)), 0);
        var last = first;
        for (int at = segmentSize; at < data.Length; at += segmentSize)
            last = last.Append(data.AsMemory(at, Math.Min(segmentSize, data.Length - at)));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
