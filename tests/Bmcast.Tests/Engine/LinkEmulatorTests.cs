using System.Diagnostics;
using Bmcast.Core.Storage;

namespace Bmcast.Tests.Engine;

public sealed class LinkEmulatorTests
{
    [Fact]
    public async Task Concurrent_transfers_share_the_link_and_take_at_least_their_serialization_time()
    {
        var link = new LinkEmulator(1 << 20);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => link.TransferAsync(256 << 10, TestContext.Current.CancellationToken)));
        // 1 MiB over a 1 MiB/s link: never faster than a second, however the readers interleave.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.99), $"1 MiB crossed a 1 MiB/s link in {clock.Elapsed.TotalSeconds:0.000} s");
    }
}
