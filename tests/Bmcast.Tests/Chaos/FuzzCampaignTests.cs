using System.Net.Sockets;
using Bmcast.Chaos.Fuzz;
using Bmcast.Protocols.Nbd;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Chaos;

/// <summary>
/// Proof that <c>bmcast chaos fuzz</c> catches each kind of loss: a campaign that cannot fail proves nothing.
/// (ChaosCampaignTests runs the real campaign through bmcast-chaos.) Allocations are measured process-wide, so
/// these run alone.
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public sealed class FuzzCampaignTests
{
    [Fact(Timeout = 60_000)]
    public async Task Crashes_hangs_allocations_and_violations_are_each_counted()
    {
        var limits = new FuzzLimits { Hang = TimeSpan.FromMilliseconds(300), Allocation = 8 << 20 };
        IFuzzTarget[] targets =
        [
            new FakeTarget("documented", () => throw new InvalidDataException("refused, as documented")),
            new FakeTarget("throws", () => throw new NullReferenceException("a bug")),
            new FakeTarget("never_ends", () => new TaskCompletionSource().Task),
            new FakeTarget("allocates", () => { GC.KeepAlive(new byte[32 << 20]); return Task.CompletedTask; }),
            new FakeTarget("violates", () => throw new FuzzViolationException("accepted a forgery")),
            // Blocks its thread (for a while, so the test leaves nothing behind): the watchdog must not depend on it.
            new FakeTarget("blocks", () => { Thread.Sleep(2000); return Task.CompletedTask; }),
        ];
        var campaign = new FuzzCampaign((_, _) => Task.FromResult<IReadOnlyList<IFuzzTarget>>(targets), limits);

        var tally = await FuzzRun.RunAsync(campaign, runs: 12, seed: 1);

        Assert.True(tally.Lost);
        Assert.Equal(2, tally[FuzzCampaign.Crashes]);
        Assert.Equal(4, tally[FuzzCampaign.Hangs]);
        Assert.Equal(2, tally[FuzzCampaign.UnboundedAllocations]);
        Assert.Equal(2, tally[FuzzCampaign.ProtocolViolations]);
        Assert.Equal(2, tally["rejected"]);
        Assert.Contains(tally.Details, d => d.Contains("throws input #2") && d.Contains("NullReferenceException: a bug"));
    }

    [Fact]
    public async Task A_bug_wrapped_in_the_clients_IOException_is_a_crash()
    {
        using var directory = new TempDirectory();
        await using var target = new NbdClientFuzzTarget(directory.Path);

        Assert.True(target.IsDocumented(new NbdProtocolException("reply with bad magic")));
        Assert.True(target.IsDocumented(new IOException("connection lost", new SocketException((int)SocketError.ConnectionReset))));
        Assert.False(target.IsDocumented(new IOException("NBD connection failed", new ArgumentOutOfRangeException("offset"))));
        Assert.False(target.IsDocumented(new InvalidOperationException("not I/O at all")));
    }

    private sealed class FakeTarget(string name, Func<Task> feed) : IFuzzTarget
    {
        public string Name => name;

        public byte[] Generate(Random random) => [1, 2, 3];

        public Task FeedAsync(byte[] input, CancellationToken ct) => feed();

        public bool IsDocumented(Exception error) => error is InvalidDataException;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
