using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// Premature timeouts (issue 13, deliverable 4). On a loaded machine the initiator's receive thread, or one of the
/// target's, is descheduled now and then: replies wait or come out of order, none is lost, and a timeout below the
/// delay resends what was only slow, making the target read it twice. The initiator learns from the first such delay
/// (a reply to a send it had already resent) and waits out the next ones instead.
/// </summary>
public sealed class AoeResendTests
{
    private const int Pause = 40;

    [Fact]
    public async Task Pauses_that_lose_nothing_are_waited_out_after_the_first()
    {
        byte[] image = ReadOnlyTestDevice.RandomData(8 << 20, seed: 4);
        var link = ResponderChannel.Serving(image, 1500, pauseEvery: 25, pauseMilliseconds: Pause);
        // With a timeout below the pause, every pause cost resends (107 in one run of this test before the timeout
        // learnt from pauses); once learnt, the later pauses cost none, but for a pause the loaded machine stretches
        // past twice the longest so far.
        await ReadFourRoundsAndAssertLearnt(link, image, 512 * 1024, () => link.Pauses,
            () => $"{link.Pauses} pauses (longest {link.LongestPause.TotalMilliseconds:F0} ms)");
    }

    /// <summary>
    /// Replies out of order: the target holds a batch of requests 40 ms while it answers the later ones at once. The
    /// later replies do not prove the held requests lost (RACK's rule alone resent each held batch whole, and as the
    /// resends' replies came first, none counted in vain and nothing was learnt); the first holds teach the initiator how
    /// long a reply may lag behind later ones, and the later holds cost no resends.
    /// </summary>
    [Fact]
    public async Task Replies_held_behind_later_ones_are_waited_for_after_the_first()
    {
        byte[] image = ReadOnlyTestDevice.RandomData(8 << 20, seed: 5);
        var link = ResponderChannel.Serving(image, 9000, holdEvery: 4, holdMilliseconds: Pause);
        await ReadFourRoundsAndAssertLearnt(link, image, 1 << 20, () => link.Holds, () => $"{link.Holds} batches held");
    }

    /// <summary>
    /// Read the whole image four times over <paramref name="link"/>, whose delays (<paramref name="delays"/> so far) lose
    /// nothing: every resend is in vain, the delay is learnt in the first round, and the rounds after it cost at most one
    /// resend per five delays.
    /// </summary>
    private static async Task ReadFourRoundsAndAssertLearnt(ResponderChannel link, byte[] image, int readSize, Func<int> delays, Func<string> describe)
    {
        await using var initiator = await AoeInitiator.ConnectAsync(link, 1, 0, cancellationToken: TestContext.Current.CancellationToken);
        var copy = new byte[image.Length];
        long afterFirstRound = 0;
        int delaysInFirstRound = 0;
        for (int round = 0; round < 4; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, image.Length / readSize).Select(i =>
                initiator.ReadSectorsAsync((ulong)(i * readSize / AoeProtocol.SectorSize), copy.AsMemory(i * readSize, readSize), TestContext.Current.CancellationToken)));
            TestContext.Current.TestOutputHelper?.WriteLine($"round {round}: {describe()}, " +
                $"{initiator.Retransmissions} resends, {initiator.SpuriousRetransmissions} in vain, pause learnt {initiator.LearntPause.TotalMilliseconds:F1} ms");
            if (round == 0)
                (afterFirstRound, delaysInFirstRound) = (initiator.Retransmissions, delays());
        }

        Assert.Equal(image, copy);
        int later = delays() - delaysInFirstRound;
        Assert.True(delaysInFirstRound >= 1 && later >= 10, $"{describe()}, {delaysInFirstRound} in the first round");
        // Nothing is lost, so every resend is in vain, and counted so once its first send's reply is in (a held batch's
        // may still be on its way).
        for (int wait = 0; wait < 100 && initiator.Retransmissions != initiator.SpuriousRetransmissions; wait++)
            await Task.Delay(20, TestContext.Current.CancellationToken);
        Assert.Equal(initiator.Retransmissions, initiator.SpuriousRetransmissions);
        Assert.True(initiator.LearntPause > TimeSpan.FromMilliseconds(Pause), $"pause learnt {initiator.LearntPause} after delays of {Pause} ms");
        long resendsLater = initiator.Retransmissions - afterFirstRound;
        Assert.True(resendsLater <= later / 5, $"{resendsLater} resends over the {later} delays after the first round");
    }
}
