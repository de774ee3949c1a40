using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// Premature timeouts (issue 13, deliverable 4). On a loaded machine the initiator's receive thread is descheduled
/// now and then: replies wait, none is lost, and a timeout below the pause resends what was only slow, making the target
/// read it twice. The initiator learns from the first such pause (a reply to a send it had already resent) and waits
/// out the next ones instead.
/// </summary>
public sealed class AoeResendTests
{
    private const int Pause = 40;

    [Fact]
    public async Task Pauses_that_lose_nothing_are_waited_out_after_the_first()
    {
        byte[] image = ReadOnlyTestDevice.RandomData(8 << 20, seed: 4);
        var link = ResponderChannel.Serving(image, 1500, pauseEvery: 25, pauseMilliseconds: Pause);
        await using var initiator = await AoeInitiator.ConnectAsync(link, 1, 0, cancellationToken: TestContext.Current.CancellationToken);
        var copy = new byte[image.Length];
        const int Read = 512 * 1024;
        long afterFirstRound = 0;
        int pausesInFirstRound = 0;
        for (int round = 0; round < 4; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, image.Length / Read).Select(i =>
                initiator.ReadSectorsAsync((ulong)(i * Read / AoeProtocol.SectorSize), copy.AsMemory(i * Read, Read), TestContext.Current.CancellationToken)));
            TestContext.Current.TestOutputHelper?.WriteLine($"round {round}: {link.Pauses} pauses (longest {link.LongestPause.TotalMilliseconds:F0} ms), " +
                $"{initiator.Retransmissions} resends, {initiator.SpuriousRetransmissions} in vain, pause learnt {initiator.LearntPause.TotalMilliseconds:F1} ms");
            if (round == 0)
                (afterFirstRound, pausesInFirstRound) = (initiator.Retransmissions, link.Pauses);
        }

        Assert.Equal(image, copy);
        Assert.True(pausesInFirstRound >= 1 && link.Pauses - pausesInFirstRound >= 10, $"{link.Pauses} pauses, {pausesInFirstRound} in the first round");
        // Nothing is lost, so every resend is in vain, and counted so.
        Assert.Equal(initiator.Retransmissions, initiator.SpuriousRetransmissions);
        Assert.True(initiator.LearntPause > TimeSpan.FromMilliseconds(Pause), $"pause learnt {initiator.LearntPause} after pauses of {Pause} ms");
        // With a timeout below the pause, every pause costs resends (107 in one run of this test before the timeout
        // learnt from pauses); once learnt, the later pauses cost none, but for a pause the loaded machine stretches
        // past twice the longest so far.
        long later = initiator.Retransmissions - afterFirstRound;
        Assert.True(later <= (link.Pauses - pausesInFirstRound) / 5, $"{later} resends over the {link.Pauses - pausesInFirstRound} pauses after the first round");
    }

    /// <summary>
    /// Replies out of order: the target holds a batch of requests 40 ms while it answers the later ones at once. The
    /// later replies do not prove the held requests lost (RACK's rule alone resent each held batch whole, in vain); the
    /// first hold teaches the initiator how long a reply may lag behind later ones, and the later holds cost no resends.
    /// </summary>
    [Fact]
    public async Task Replies_held_behind_later_ones_are_waited_for_after_the_first()
    {
        byte[] image = ReadOnlyTestDevice.RandomData(8 << 20, seed: 5);
        var link = ResponderChannel.Serving(image, 9000, holdEvery: 4, holdMilliseconds: Pause);
        await using var initiator = await AoeInitiator.ConnectAsync(link, 1, 0, cancellationToken: TestContext.Current.CancellationToken);
        var copy = new byte[image.Length];
        const int Read = 1 << 20;
        long afterFirstRound = 0;
        int holdsInFirstRound = 0;
        for (int round = 0; round < 4; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, image.Length / Read).Select(i =>
                initiator.ReadSectorsAsync((ulong)(i * Read / AoeProtocol.SectorSize), copy.AsMemory(i * Read, Read), TestContext.Current.CancellationToken)));
            TestContext.Current.TestOutputHelper?.WriteLine($"round {round}: {link.Holds} batches held, " +
                $"{initiator.Retransmissions} resends, {initiator.SpuriousRetransmissions} in vain, pause learnt {initiator.LearntPause.TotalMilliseconds:F1} ms");
            if (round == 0)
                (afterFirstRound, holdsInFirstRound) = (initiator.Retransmissions, link.Holds);
        }

        Assert.Equal(image, copy);
        Assert.True(holdsInFirstRound >= 1 && link.Holds - holdsInFirstRound >= 10, $"{link.Holds} holds, {holdsInFirstRound} in the first round");
        Assert.Equal(initiator.Retransmissions, initiator.SpuriousRetransmissions);
        Assert.True(initiator.LearntPause > TimeSpan.FromMilliseconds(Pause), $"pause learnt {initiator.LearntPause} after holds of {Pause} ms");
        long later = initiator.Retransmissions - afterFirstRound;
        Assert.True(later <= (link.Holds - holdsInFirstRound) / 5, $"{later} resends over the {link.Holds - holdsInFirstRound} holds after the first round");
    }
}
