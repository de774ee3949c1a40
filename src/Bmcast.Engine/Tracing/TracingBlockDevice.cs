using System.Runtime.CompilerServices;
using Bmcast.Core.Storage;

namespace Bmcast.Engine.Tracing;

/// <summary>
/// The guest's view of a disk with every completed request noted in a <see cref="IoTraceRecorder"/>; failed requests are not.
/// The methods' state machines are pooled, so tracing adds no allocation per request. Reads answered at once (a front
/// end's <see cref="TryRead"/>, or <see cref="TryLocateInFile"/> for bytes it sends from the file itself) are recorded
/// too, as taking no time: they are the boot's re-reads of what is already local, and a replay without them would
/// miss part of what the guest asked for.
/// </summary>
public sealed class TracingBlockDevice(IBlockDevice inner, IoTraceRecorder recorder) : ForwardingBlockDevice(inner)
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        long start = IoTraceRecorder.Now();
        await Inner.ReadAsync(offset, buffer, ct);
        recorder.Record(start, IoKind.Read, offset, buffer.Length);
    }

    public override bool TryRead(long offset, Span<byte> buffer)
    {
        long start = IoTraceRecorder.Now();
        if (!Inner.TryRead(offset, buffer))
            return false;
        recorder.Record(start, IoKind.Read, offset, buffer.Length);
        return true;
    }

    public override bool TryLocateInFile(long offset, int length, out FilePosition position)
    {
        long start = IoTraceRecorder.Now();
        if (!Inner.TryLocateInFile(offset, length, out position))
            return false;
        recorder.Record(start, IoKind.Read, offset, length);
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
    {
        long start = IoTraceRecorder.Now();
        await Inner.WriteAsync(offset, data, forceUnitAccess, ct);
        recorder.Record(start, IoKind.Write, offset, data.Length);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct)
    {
        long start = IoTraceRecorder.Now();
        await Inner.WriteZeroesAsync(offset, length, forceUnitAccess, ct);
        recorder.Record(start, IoKind.WriteZeroes, offset, length);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask FlushAsync(CancellationToken ct)
    {
        long start = IoTraceRecorder.Now();
        await Inner.FlushAsync(ct);
        recorder.Record(start, IoKind.Flush, 0, 0);
    }
}
