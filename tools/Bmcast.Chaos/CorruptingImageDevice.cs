using Bmcast.Core.Storage;

namespace Bmcast.Chaos;

/// <summary>
/// A read-only image that lies: a share of reads come back with a bit flipped or with the bytes of
/// another offset. Counts the chunks (of <paramref name="chunkSize"/>, aligned as the image's) each lie
/// actually changed, since the reader verifies chunk by chunk and one read may cover several (a
/// background run): a wrong offset can spoil every chunk of the read, a flipped bit one.
/// </summary>
public sealed class CorruptingImageDevice(SyntheticImage image, Random random, double lieRate, int chunkSize) : IBlockDevice
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
            Interlocked.Add(ref _wrongOffsets, ChangedChunks(offset, buffer.Span, truth));
        }
        else
        {
            truth.CopyTo(buffer.Span);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>How many of the image's chunks that <paramref name="offset"/>..+length touches differ between the two.</summary>
    private int ChangedChunks(long offset, ReadOnlySpan<byte> served, ReadOnlySpan<byte> truth)
    {
        int changed = 0;
        for (int start = 0; start < served.Length;)
        {
            int length = (int)Math.Min(served.Length - start, chunkSize - (offset + start) % chunkSize);
            if (!served.Slice(start, length).SequenceEqual(truth.Slice(start, length)))
                changed++;
            start += length;
        }
        return changed;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) => ReadOnly();

    public ValueTask FlushAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) => ReadOnly();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static ValueTask ReadOnly() => ValueTask.FromException(new BlockDeviceException(BlockDeviceException.EPERM, "read-only image"));
}
