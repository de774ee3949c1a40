using Bmcast.Core.Storage;

namespace Bmcast.TestKit.Devices;

/// <summary>
/// An image in memory that serves reads asynchronously and, on request, fails them or returns
/// corrupted bytes, so engine tests can exercise retries and verification. Records which offsets
/// were served successfully.
/// </summary>
public sealed class FaultyMemorySource(byte[] image, int seed) : IImageSource
{
    private readonly Random _random = new(seed);
    private readonly Lock _gate = new();

    public long Size => image.Length;
    public string Description => "memory";

    /// <summary>Probability that a read throws <see cref="IOException"/>.</summary>
    public double FailureRate { get; set; }

    /// <summary>Probability that a read returns data with one byte flipped.</summary>
    public double CorruptionRate { get; set; }

    /// <summary>Offsets from which a read must never be served again (set by resume tests).</summary>
    public HashSet<long> Forbidden { get; } = [];

    public List<string> Violations { get; } = [];

    public int ReadCount { get; private set; }

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await Task.Yield();
        bool fail, corrupt;
        int flipAt;
        lock (_gate)
        {
            ReadCount++;
            fail = _random.NextDouble() < FailureRate;
            corrupt = _random.NextDouble() < CorruptionRate;
            flipAt = _random.Next(buffer.Length);
            if (Forbidden.Contains(offset))
                Violations.Add($"offset {offset} fetched again after it was persisted as present");
        }
        if (fail)
            throw new IOException("injected source failure");
        image.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        if (corrupt)
            buffer.Span[flipAt] ^= 0x5a;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
