using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;
using Bmcast.Tests.Nbd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>Our initiator against our target over an in-memory link, clean and lossy.</summary>
public sealed class AoeInitiatorTests
{
    private static readonly AoeInitiatorOptions Fast = new() { InitialTimeout = TimeSpan.FromMilliseconds(50) };

    /// <summary>A target serving <paramref name="images"/> as slots 0, 1, ... of shelf 1 on one end of a link; runs until disposed.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;
        private readonly AoeTarget _target;

        private Rig(AoeTarget target, IFrameChannel initiatorEnd)
        {
            _target = target;
            InitiatorEnd = initiatorEnd;
            _serving = target.RunAsync(_stop.Token);
        }

        /// <summary>The initiator's end of the link, which drops the given fraction of frames both ways.</summary>
        public IFrameChannel InitiatorEnd { get; }

        public static Task<Rig> StartAsync(double loss, int mtu, params byte[][] images) => StartAsync(loss, mtu, false, images);

        public static async Task<Rig> StartAsync(double loss, int mtu, bool failReads, params byte[][] images)
        {
            var (a, b) = InMemoryLink.Create(mtu);
            var catalog = new MemoryExportCatalog();
            for (int i = 0; i < images.Length; i++)
            {
                byte[] image = images[i];
                catalog.Add($"image{i}", () => new ReadOnlyTestDevice(image, failReads));
            }
            var target = await AoeTarget.CreateAsync(a, catalog, new AoeTargetOptions { Shelf = 1, BufferCount = 48, Workers = 2 },
                NullLogger.Instance, CancellationToken.None);
            return new Rig(target, new LossyChannel(b, loss, seed: 42));
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await _serving;
            await _target.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(1500, 0.0)]
    [InlineData(9000, 0.0)]
    [InlineData(1500, 0.05)]
    [InlineData(9000, 0.1)]
    public async Task ReadsAWholeImage(int mtu, double loss)
    {
        byte[] image = ReadOnlyTestDevice.RandomData(3 << 20, seed: mtu);
        await using var rig = await Rig.StartAsync(loss, mtu, new byte[4096], image);
        await using var source = new AoeImageSource(
            await AoeInitiator.ConnectAsync(rig.InitiatorEnd, 1, 1, Fast, TestContext.Current.CancellationToken), "test");

        Assert.Equal(image.Length, source.Size);
        Assert.Equal(AoeProtocol.SectorsPerFrame(mtu), source.Initiator.SectorsPerFrame);
        var copy = new byte[image.Length];
        await Task.WhenAll(Enumerable.Range(0, 48).Select(i =>
            source.ReadAsync(i * 65536L, copy.AsMemory(i * 65536, 65536), TestContext.Current.CancellationToken).AsTask()));
        Assert.Equal(image, copy);
        if (loss > 0)
            Assert.True(source.Initiator.Retransmissions > 0);
    }

    [Fact]
    public async Task UnalignedReadsGoThroughABounceBuffer()
    {
        byte[] image = ReadOnlyTestDevice.RandomData(1 << 20, seed: 3);
        await using var rig = await Rig.StartAsync(0, 1500, image);
        await using var source = new AoeImageSource(await AoeInitiator.ConnectAsync(rig.InitiatorEnd, 1, 0, Fast, TestContext.Current.CancellationToken), "test");
        var part = new byte[3000];
        await source.ReadAsync(12345, part, TestContext.Current.CancellationToken);
        Assert.Equal(image.AsSpan(12345, 3000).ToArray(), part);
    }

    [Fact]
    public async Task AnAbsentTargetFailsWithAClearError()
    {
        await using var rig = await Rig.StartAsync(0, 1500, new byte[4096]);
        var options = Fast with { InitialTimeout = TimeSpan.FromMilliseconds(5), MaxTransmissions = 3 };
        var error = await Assert.ThrowsAsync<AoeNoReplyException>(() => AoeInitiator.ConnectAsync(rig.InitiatorEnd, 1, 7, options, TestContext.Current.CancellationToken));
        Assert.Contains("e1.7", error.Message);
        Assert.False(error.TargetFound);
    }

    [Fact]
    public async Task TargetErrorsBecomeIOExceptions()
    {
        await using var rig = await Rig.StartAsync(0, 1500, failReads: true, new byte[4096]);
        await using var initiator = await AoeInitiator.ConnectAsync(rig.InitiatorEnd, 1, 0, Fast, TestContext.Current.CancellationToken);
        var buffer = new byte[1024];
        var error = await Assert.ThrowsAsync<IOException>(() => initiator.ReadSectorsAsync(2, buffer, TestContext.Current.CancellationToken));
        Assert.Contains("ATA", error.Message);
        Assert.True(buffer.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => initiator.ReadSectorsAsync(8, new byte[512], TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task AReplyToTheSendBeforeAResendStillCompletesTheRead()
    {
        // A slow target, as a descheduled one on a busy machine: it answers the first send of the read only once the
        // initiator has given up on it and resent, and never answers any resend.
        var (targetEnd, initiatorEnd) = InMemoryLink.Create();
        byte[] image = ReadOnlyTestDevice.RandomData(4096, seed: 9);
        var handler = new AoeTargetHandler(targetEnd.Address, 1500, new AoeSlotTable([new AoeSlot(0, "a", new ReadOnlyTestDevice(image))]),
            new AoeTargetOptions(), NullLogger.Instance);
        var serving = Task.Run(async () =>
        {
            var replies = new ReplyBatch(targetEnd, 1, handler.MaxReplyLength);
            byte[]? firstSend = null;
            var buffer = new byte[2048];
            try
            {
                while (true)
                {
                    byte[] frame = buffer[..targetEnd.Receive(buffer)];
                    bool read = AoeHeader.TryRead(frame, out var header) == AoeFrameStatus.Valid && header.Command == AoeCommand.Ata
                                && AtaHeader.TryRead(frame, out var ata) == AoeFrameStatus.Valid && ata.CommandOrStatus == Ata.ReadSectorsExt;
                    if (!read)
                        await handler.HandleAsync(frame, replies, CancellationToken.None);
                    else if (firstSend is null)
                        firstSend = frame;
                    else if (firstSend.Length > 0)
                    {
                        await handler.HandleAsync(firstSend, replies, CancellationToken.None);
                        firstSend = [];
                    }
                    replies.Flush();
                }
            }
            catch (ObjectDisposedException)
            {
            }
        }, TestContext.Current.CancellationToken);

        await using (var initiator = await AoeInitiator.ConnectAsync(initiatorEnd, 0, 0, Fast, TestContext.Current.CancellationToken))
        {
            var data = new byte[1024];
            await initiator.ReadSectorsAsync(0, data, TestContext.Current.CancellationToken);
            Assert.Equal(image.AsSpan(0, 1024).ToArray(), data);
            Assert.True(initiator.Retransmissions >= 1);
        }
        targetEnd.Dispose();
        await serving;
    }

    [Fact]
    public async Task AStalledTargetGetsProbesNotTheWholeWindowAgain()
    {
        // 128 requests in flight when the target stops answering for 300 ms (a descheduled process), then answers
        // everything queued. Resending the whole window at the first timeout would be 128 resends at least; the
        // timer ticks at most every 5 ms, and in a stall each tick probes with one request.
        var (targetEnd, initiatorEnd) = InMemoryLink.Create();
        byte[] image = ReadOnlyTestDevice.RandomData(2 << 20, seed: 10);
        var handler = new AoeTargetHandler(targetEnd.Address, 1500, new AoeSlotTable([new AoeSlot(0, "a", new ReadOnlyTestDevice(image))]),
            new AoeTargetOptions(), NullLogger.Instance);
        int stall = 0;
        var serving = Task.Run(async () =>
        {
            var replies = new ReplyBatch(targetEnd, 1, handler.MaxReplyLength);
            var buffer = new byte[2048];
            try
            {
                while (true)
                {
                    byte[] frame = buffer[..targetEnd.Receive(buffer)];
                    if (Interlocked.Exchange(ref stall, 0) == 1)
                        Thread.Sleep(300);
                    await handler.HandleAsync(frame, replies, CancellationToken.None);
                    replies.Flush();
                }
            }
            catch (ObjectDisposedException)
            {
            }
        }, TestContext.Current.CancellationToken);

        await using (var initiator = await AoeInitiator.ConnectAsync(initiatorEnd, 0, 0, Fast, TestContext.Current.CancellationToken))
        {
            var warmUp = new byte[1 << 20]; // 1024 replies: slow start opens the window to its 256 ceiling
            await initiator.ReadSectorsAsync(0, warmUp, TestContext.Current.CancellationToken);
            long before = initiator.Retransmissions;
            Volatile.Write(ref stall, 1);
            var data = new byte[128 * 1024];
            await initiator.ReadSectorsAsync(2048, data, TestContext.Current.CancellationToken);
            Assert.Equal(image.AsSpan(2048 * 512, data.Length).ToArray(), data);
            Assert.InRange(initiator.Retransmissions - before, 0, 127);
        }
        targetEnd.Dispose();
        await serving;
    }
}
