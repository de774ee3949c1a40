using Bmcast.Core.Storage;
using Bmcast.Engine.Sources;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Engine;

/// <summary>
/// The outage policy: reads wait for a lost server up to the limit; past it each read tries once and
/// fails at once, and the first successful connection ends the outage.
/// </summary>
public sealed class ReconnectingImageSourceTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(300);

    /// <summary>A server that can be switched off: connecting then fails as a refused socket would.</summary>
    private sealed class SwitchableServer(byte[] image)
    {
        public volatile bool Up = true;
        public int Attempts;

        public Task<IImageSource> ConnectAsync(CancellationToken ct)
        {
            Interlocked.Increment(ref Attempts);
            return Up ? Task.FromResult<IImageSource>(new Connection(this, image)) : throw new IOException("connection refused");
        }

        private sealed class Connection(SwitchableServer server, byte[] image) : IImageSource
        {
            public long Size => image.Length;
            public string Description => "switchable";

            public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
            {
                if (!server.Up)
                    throw new IOException("connection reset");
                image.AsMemory((int)offset, buffer.Length).CopyTo(buffer);
                return ValueTask.CompletedTask;
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Past_the_limit_each_read_tries_once_and_the_first_success_ends_the_outage()
    {
        var ct = TestContext.Current.CancellationToken;
        var image = new byte[4096];
        new Random(5).NextBytes(image);
        var server = new SwitchableServer(image);
        await using var source = await ReconnectingImageSource.ConnectAsync(server.ConnectAsync, Limit, new TestLogger<ReconnectingImageSource>(), ct);
        var buffer = new byte[512];

        server.Up = false;
        await Assert.ThrowsAsync<ImageSourceUnavailableException>(async () => await source.ReadAsync(0, buffer, ct));
        Assert.True(server.Attempts > 2, $"only {server.Attempts} connection attempts while waiting out the limit");

        int before = server.Attempts;
        await Assert.ThrowsAsync<ImageSourceUnavailableException>(async () => await source.ReadAsync(512, buffer, ct));
        Assert.Equal(before + 1, server.Attempts);

        server.Up = true;
        await source.ReadAsync(1024, buffer, ct);
        Assert.True(buffer.AsSpan().SequenceEqual(image.AsSpan(1024, 512)));
    }

    [Fact]
    public async Task A_read_during_a_short_outage_waits_and_succeeds()
    {
        var ct = TestContext.Current.CancellationToken;
        var image = new byte[4096];
        new Random(6).NextBytes(image);
        var server = new SwitchableServer(image);
        var log = new TestLogger<ReconnectingImageSource>();
        await using var source = await ReconnectingImageSource.ConnectAsync(server.ConnectAsync, TimeSpan.FromMinutes(5), log, ct);
        var buffer = new byte[512];

        server.Up = false;
        var read = source.ReadAsync(2048, buffer, ct).AsTask();
        while (server.Attempts < 3)
            await Task.Delay(10, ct);
        Assert.False(read.IsCompleted);
        server.Up = true;
        await read;
        Assert.True(buffer.AsSpan().SequenceEqual(image.AsSpan(2048, 512)));
        // The reconnect says why it took as long as it did: the attempts refused before it, and the last refusal.
        string reconnected = Assert.Single(log.Lines, l => l.Contains("reconnected to", StringComparison.Ordinal));
        Assert.Contains("last: connection refused", reconnected);
        Assert.Matches(@"\(([2-9]|\d\d+) failed attempts", reconnected);
    }
}
