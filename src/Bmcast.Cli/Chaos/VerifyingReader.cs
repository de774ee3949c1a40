using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Cli.Chaos;

/// <summary>
/// A guest that reads random extents through an NBD export and checks each against the image. A read
/// that fails is an expected failure while <see cref="ExpectFailures"/> is set (a long outage) and a
/// guest I/O error otherwise.
/// </summary>
internal sealed class VerifyingReader(SyntheticImage image, Random random)
{
    private const int MaxRead = 256 << 10;
    private readonly Lock _gate = new();

    /// <summary>Set while the campaign has made errors legitimate (the server is gone for longer than the limit).</summary>
    public volatile bool ExpectFailures;

    public long Reads { get; private set; }

    public long ExpectedFailures { get; private set; }

    /// <summary>Failures nobody excused, with what failed.</summary>
    public List<string> UnexpectedFailures { get; } = [];

    /// <summary>Reads whose bytes differed from the image.</summary>
    public List<string> WrongContent { get; } = [];

    public async Task ReadUntilAsync(NbdClient client, CancellationToken stop)
    {
        var buffer = new byte[MaxRead];
        while (!stop.IsCancellationRequested)
        {
            int length = random.Next(1, MaxRead / 512 + 1) * 512;
            long offset = random.NextInt64(0, (image.Size - length) / 512 + 1) * 512;
            bool excused = ExpectFailures;
            try
            {
                await client.ReadAsync(offset, buffer.AsMemory(0, length), CancellationToken.None);
            }
            catch (IOException e)
            {
                lock (_gate)
                {
                    if (excused || ExpectFailures)
                        ExpectedFailures++;
                    else
                        UnexpectedFailures.Add($"read of {length} bytes at {offset} failed: {e.Message}");
                }
                if (e is not Bmcast.Core.Storage.BlockDeviceException)
                    return;   // the connection itself is gone
                continue;
            }
            lock (_gate)
            {
                Reads++;
                if (!buffer.AsSpan(0, length).SequenceEqual(image.Bytes.AsSpan((int)offset, length)))
                    WrongContent.Add($"read of {length} bytes at {offset} differs from the image");
            }
        }
    }
}
