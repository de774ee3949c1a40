using System.Diagnostics;
using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;
using Bmcast.Tests.Images;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// Allocation budgets of the AoE hot paths (issue 13, deliverable 7): the target answering a read from a stored image,
/// the initiator's receive thread matching a reply, copying its data and letting the next request into the window, and
/// the initiator's callers starting reads (no request made per frame).
/// All are measured per thread (<see cref="GC.GetAllocatedBytesForCurrentThread"/>), so other tests running beside
/// them do not count. A change that allocates per frame on either path fails here.
/// </summary>
public sealed class AoeAllocationTests
{
    private const long Budget = 0;
    private static readonly MacAddress Initiator = ResponderChannel.InitiatorAddress;
    private static readonly MacAddress Target = ResponderChannel.TargetAddress;

    [Theory]
    [InlineData(1500)]
    [InlineData(9000)]
    public async Task The_target_answers_reads_without_allocating(int mtu)
    {
        RequireOptimizedBuild();
        using var temp = new TempStore();
        const int Size = 4 << 20;
        await File.WriteAllBytesAsync(temp.PathFor("disk.raw"), ReadOnlyTestDevice.RandomData(Size, seed: 1), TestContext.Current.CancellationToken);
        await temp.ImportAsync(temp.PathFor("disk.raw"), "disk");
        await using var slots = new AoeSlotTable([new AoeSlot(0, "disk", temp.Store.OpenDevice("disk"))]);
        var handler = new AoeTargetHandler(Target, mtu, slots, new AoeTargetOptions { Shelf = 1 }, NullLogger.Instance);
        using var link = new DiscardChannel(Target, mtu);
        var replies = new ReplyBatch(link, 64, handler.MaxReplyLength);
        int sectors = handler.SectorsPerFrame;
        ulong frames = (ulong)(Size / AoeProtocol.SectorSize / sectors);
        var request = new byte[AoeProtocol.MinimumFrameLength];

        void Serve(int count)
        {
            for (int i = 0; i < count; i++)
            {
                new AoeHeader(Target, Initiator, AoeFlags.None, AoeError.None, 1, 0, AoeCommand.Ata, (uint)i).Write(request);
                new AtaHeader(AtaFlags.Extended, 0, (byte)sectors, Ata.ReadSectorsExt, (ulong)i % frames * (ulong)sectors).Write(request);
                var handled = handler.HandleAsync(request, replies, CancellationToken.None);
                Assert.True(handled.IsCompletedSuccessfully, "a read from the store went asynchronous");
                if (i % 64 == 63)
                    replies.Flush();
            }
            replies.Flush();
        }

        Serve(2000); // JIT tiers, the store's open packs
        long sent = link.Frames;
        long before = GC.GetAllocatedBytesForCurrentThread();
        Serve(20_000);
        long perRead = (GC.GetAllocatedBytesForCurrentThread() - before) / 20_000;

        TestContext.Current.TestOutputHelper?.WriteLine($"MTU {mtu}: {perRead} B allocated per read answered");
        Assert.Equal(20_000, link.Frames - sent);
        Assert.Equal(0, handler.Dropped);
        Assert.True(perRead <= Budget, $"answering a read allocates {perRead} B, budget {Budget} B");
    }

    [Theory]
    [InlineData(1500)]
    [InlineData(9000)]
    public async Task The_initiator_takes_replies_without_allocating(int mtu)
    {
        var (image, link, initiator) = await ConnectAsync(mtu, seed: 2);
        await using var _ = initiator;
        var copy = new byte[image.Length];

        async Task ReadAllAsync()
        {
            const int Read = 256 * 1024;
            await Task.WhenAll(Enumerable.Range(0, image.Length / Read).Select(i =>
                initiator.ReadSectorsAsync((ulong)(i * Read / AoeProtocol.SectorSize), copy.AsMemory(i * Read, Read), TestContext.Current.CancellationToken)));
        }

        await ReadAllAsync(); // JIT tiers, the window opening, the tag dictionaries growing to a full window
        link.Measuring = true;
        var clock = Stopwatch.StartNew();
        for (int round = 0; round < 4; round++)
            await ReadAllAsync();
        link.Measuring = false;
        double perReply = (double)link.ReceiverBytes / Math.Max(1, link.RepliesMeasured);

        TestContext.Current.TestOutputHelper?.WriteLine($"MTU {mtu}: {link.ReceiverBytes} B over {link.RepliesMeasured} replies " +
                                                        $"({perReply:F2} B each), {initiator.Retransmissions} resends, {clock.ElapsedMilliseconds} ms");
        Assert.Equal(image, copy);
        Assert.True(link.RepliesMeasured >= image.Length / AoeProtocol.SectorSize / initiator.SectorsPerFrame,
            $"only {link.RepliesMeasured} replies measured");
        // Anything allocated per reply is an object, 24 B at least. What completing a whole read costs now and then (the
        // thread pool's queue growing a segment for the reader's continuation, ~5 KiB once in a run) stays below 1 B a reply.
        Assert.True(perReply < 1, $"taking a reply allocates {perReply:F2} B on average, budget {Budget} B (less than 1 B)");
    }

    [Theory]
    [InlineData(1500)]
    [InlineData(9000)]
    public async Task A_read_allocates_nothing_per_frame(int mtu)
    {
        var (image, _, initiator) = await ConnectAsync(mtu, seed: 3);
        await using var _ = initiator;
        // Both reads take more frames than the largest window, so neither can complete before its caller awaits it: the
        // two differ in their frames only, and what a read costs whatever its size (its task, its set) cancels out.
        int window = new AoeInitiatorOptions().MaxWindow;
        int shortFrames = 2 * window, longFrames = 4 * window;
        int frameBytes = initiator.SectorsPerFrame * AoeProtocol.SectorSize;
        var buffer = new byte[longFrames * frameBytes];

        // What the caller's thread allocates in starting a read (where its requests are made), on average.
        async Task<double> CallerBytesAsync(int frames, int reads)
        {
            long total = 0;
            for (int i = 0; i < reads; i++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var read = initiator.ReadSectorsAsync(0, buffer.AsMemory(0, frames * frameBytes), CancellationToken.None);
                total += GC.GetAllocatedBytesForCurrentThread() - before;
                await read;
            }
            return (double)total / reads;
        }

        await CallerBytesAsync(longFrames, 20); // JIT tiers, the window opening, the queue and spare requests growing
        double shortRead = await CallerBytesAsync(shortFrames, 50);
        double longRead = await CallerBytesAsync(longFrames, 50);
        double perFrame = (longRead - shortRead) / (longFrames - shortFrames);

        TestContext.Current.TestOutputHelper?.WriteLine($"MTU {mtu}: {shortRead:F0} B to start a read of {shortFrames} frames, " +
                                                        $"{longRead:F0} B for {longFrames}: {perFrame:F2} B per frame");
        Assert.Equal(image.AsSpan(0, buffer.Length).ToArray(), buffer);
        // A request object per frame would be ~100 B a frame; an array of them 8 B.
        Assert.True(perFrame < 1, $"a read allocates {perFrame:F2} B per frame, budget {Budget} B (less than 1 B)");
    }

    /// <summary>An initiator connected to a 16 MiB random image served in place (<see cref="ResponderChannel"/>); Release builds only.</summary>
    private static async Task<(byte[] Image, ResponderChannel Link, AoeInitiator Initiator)> ConnectAsync(int mtu, int seed)
    {
        RequireOptimizedBuild();
        byte[] image = ReadOnlyTestDevice.RandomData(16 << 20, seed);
        var link = ResponderChannel.Serving(image, mtu);
        return (image, link, await AoeInitiator.ConnectAsync(link, 1, 0, cancellationToken: TestContext.Current.CancellationToken));
    }

    /// <summary>Debug builds compile async state machines as classes, so every call allocates: only Release measures anything.</summary>
    private static void RequireOptimizedBuild()
    {
        if (typeof(AoeTargetHandler).Assembly.GetCustomAttributes(typeof(DebuggableAttribute), false)
                is [DebuggableAttribute { IsJITOptimizerDisabled: true }])
            Assert.Skip("allocation budgets are checked in Release builds only (dotnet test -c Release)");
    }

    /// <summary>A link that counts and forgets what is sent: the target's replies go nowhere.</summary>
    private sealed class DiscardChannel(MacAddress address, int mtu) : IFrameChannel
    {
        public long Frames;

        public MacAddress Address => address;

        public int Mtu => mtu;

        public void Send(ReadOnlySpan<byte> frame) => Frames++;

        public void Send(FrameBatch batch) => Frames += batch.Count;

        public int Receive(Span<byte> buffer) => throw new NotSupportedException("nothing arrives on a discarding link");

        public void Dispose()
        {
        }
    }
}
