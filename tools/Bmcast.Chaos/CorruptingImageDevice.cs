using Bmcast.Core.Storage;

namespace Bmcast.Chaos;

/// <summary>
/// A read-only image that lies: a share of reads come back with a bit flipped or with the bytes of
/// another offset. Counts each lie that actually changed what the reader got.
/// </summary>
public sealed class CorruptingImageDevice(SyntheticImage image, Random random, double lieRate) : IBlockDevice
{
    private readonly Lock _gate = new();
    private long _bitFlips;
    private long _wrongOffsets;

    public long Size => image.Size;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.MultiConnection;

    public long BitFlips => Interlocked.Read(ref _bitFlips);

    public long WrongOffsets => Interlocked.Read(ref _wrongOffsets);

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        var truth = image.Bytes.AsSpan((int)offset, buffer.Length);
        double dice;
        int position, elsewhere;
        lock (_gate)
        {
            dice = random.NextDouble();
            position = random.Next(buffer.Length * 8);
            elsewhere = (int)random.NextInt64(0, image.Size - buffer.Length + 1);
        }
        if (dice < lieRate / 2)
        {
            truth.CopyTo(buffer.Span);
            buffer.Span[position / 8] ^= (byte)(1 << (position % 8));
            Interlocked.Increment(ref _bitFlips);
        }
        else if (dice < lieRate)
        {
            image.Bytes.AsSpan(elsewhere, buffer.Length).CopyTo(buffer.Span);
            if (!buffer.Span.SequenceEqual(truth))
                Interlocked.Increment(ref _wrongOffsets);
        }
        else
        {
            truth.CopyTo(buffer.Span);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) => ReadOnly();

    public ValueTask FlushAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) => ReadOnly();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static ValueTask ReadOnly() => ValueTask.FromException(new BlockDeviceException(BlockDeviceException.EPERM, "read-only image"));
}
