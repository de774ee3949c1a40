namespace Bmcast.Chaos;

/// <summary>
/// A raw disk image for campaigns: random data with zero stretches between, so streaming exercises
/// both fetched and known-zero chunks. Kept in memory as the reference the final disk is checked against.
/// </summary>
public sealed class SyntheticImage
{
    private SyntheticImage(byte[] bytes) => Bytes = bytes;

    public byte[] Bytes { get; }

    public long Size => Bytes.Length;

    /// <summary>Random bytes in about three quarters of every MiB, zeroes in the rest.</summary>
    public static SyntheticImage Create(int size, Random random)
    {
        const int Stretch = 1 << 20;
        var bytes = new byte[size];
        for (int start = 0; start < size; start += Stretch)
        {
            int data = Math.Min(Stretch * 3 / 4, size - start);
            random.NextBytes(bytes.AsSpan(start, data));
        }
        return new SyntheticImage(bytes);
    }

    public async Task WriteAsync(string path, CancellationToken ct) => await File.WriteAllBytesAsync(path, Bytes, ct);
}
