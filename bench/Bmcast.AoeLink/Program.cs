using System.Diagnostics;
using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

// What a link carries one way in frames the size of AoE data replies, through the same packet socket, receive ring
// and batched sends (sendmmsg) the AoE target and initiator use: the baseline of bench/aoe.sh.
//   blast IFACE SECONDS   send full data-reply-sized frames to the broadcast address as fast as the kernel takes them,
//                         from one thread per core
//   sink IFACE SECONDS    count what arrives; prints sector bytes per second (frame length - 36, as a data reply carries)
// The frames carry the AoE response flag, so a target on the link would drop them.
//   read aoe:IFACE/eSHELF.SLOT [WINDOW]   our initiator alone: after a second of untimed reads, the whole device in 8
//                         concurrent 1 MiB reads, no checks, no writes; at most WINDOW requests outstanding
//                         (default: the initiator's)
if (args.Length is 2 or 3 && args[0] == "read")
    return await ReadAllAsync(AoeAddress.Parse(args[1]), args.Length == 3 ? int.Parse(args[2]) : new AoeInitiatorOptions().MaxWindow);
if (args.Length != 3 || args[0] is not ("blast" or "sink") || !int.TryParse(args[2], out int seconds))
{
    Console.Error.WriteLine("usage: Bmcast.AoeLink blast|sink IFACE SECONDS | read aoe:IFACE/eSHELF.SLOT [WINDOW]");
    return 2;
}
using var channel = PacketSocketChannel.Open(args[1]);
int frameLength = AoeProtocol.AtaDataOffset + AoeProtocol.SectorsPerFrame(channel.Mtu) * AoeProtocol.SectorSize;
var batch = new FrameBatch(64, AoeProtocol.EthernetHeaderLength + channel.Mtu + 64);
var deadline = Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
if (args[0] == "blast")
{
    // One sender per core, each on its own socket, as the target answers on every core: the sender pays for
    // the delivery too (veth hands the frame to the receiver's socket in the sender's context).
    var senders = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => Task.Run(() =>
    {
        using var own = PacketSocketChannel.Open(args[1], ring: false); // it only sends
        var frames = new FrameBatch(64, frameLength);
        for (int i = 0; i < frames.Capacity; i++)
        {
            var frame = frames.Next().Span;
            frame.Clear();
            new AoeHeader(MacAddress.Broadcast, own.Address, AoeFlags.Response, AoeError.None, 0, 0, AoeCommand.Ata, (uint)i).Write(frame);
            frames.Add(frameLength);
        }
        long sent = 0;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            own.Send(frames);
            sent += frames.Count;
        }
        return sent;
    })).ToArray();
    Console.WriteLine($"sent {(await Task.WhenAll(senders)).Sum()} frames of {frameLength} bytes from {senders.Length} threads");
    return 0;
}
long frames = 0, bytes = 0, first = 0, last = 0;
var receiving = new Thread(() =>
{
    try
    {
        while (true)
        {
            channel.Receive(batch);
            last = Stopwatch.GetTimestamp();
            if (first == 0)
                first = last;
            for (int i = 0; i < batch.Count; i++)
                bytes += Math.Max(0, batch.Frame(i).Length - AoeProtocol.AtaDataOffset);
            frames += batch.Count;
        }
    }
    catch (ObjectDisposedException)
    {
    }
}) { IsBackground = true };
receiving.Start();
Thread.Sleep(TimeSpan.FromSeconds(seconds));
channel.Dispose();
receiving.Join();
double elapsed = (double)(last - first) / Stopwatch.Frequency;
Console.WriteLine(elapsed > 0
    ? $"{frames} frames, {bytes / elapsed / (1 << 20):F0} MiB/s of sector data over {elapsed:F2} s ({channel.ReceivePath})"
    : "no frames");
return 0;

static async Task<int> ReadAllAsync(AoeAddress address, int window)
{
    const int ReadSize = 1 << 20, Concurrent = 8;
    await using var source = await AoeImageSource.OpenAsync(address, new AoeInitiatorOptions { MaxWindow = window, InitialWindow = Math.Min(16, window) });
    // Untimed first: a second of reads brings both ends to steady state (JIT tiers, page cache, the window).
    var warmUp = Stopwatch.StartNew();
    while (warmUp.Elapsed < TimeSpan.FromSeconds(1))
        await ReadWholeAsync(source, ReadSize, Concurrent, warmUp, TimeSpan.FromSeconds(1));
    long retransmissions = source.Initiator.Retransmissions, spurious = source.Initiator.SpuriousRetransmissions;
    var clock = Stopwatch.StartNew();
    await ReadWholeAsync(source, ReadSize, Concurrent, clock, TimeSpan.MaxValue);
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"read {source.Size} bytes, {source.Size / seconds / (1 << 20):F0} MiB/s, {source.Initiator.Retransmissions - retransmissions} retransmissions ({source.Initiator.SpuriousRetransmissions - spurious} in vain)");
    return 0;
}

// The whole device in concurrent reads, or as much of it as fits before the clock passes the limit.
static Task ReadWholeAsync(AoeImageSource source, int readSize, int concurrent, Stopwatch clock, TimeSpan limit)
{
    long next = 0;
    return Task.WhenAll(Enumerable.Range(0, concurrent).Select(_ => Task.Run(async () =>
    {
        var buffer = new byte[readSize];
        while (clock.Elapsed < limit)
        {
            long offset = Interlocked.Add(ref next, readSize) - readSize;
            if (offset >= source.Size)
                return;
            await source.ReadAsync(offset, buffer.AsMemory(0, (int)Math.Min(readSize, source.Size - offset)), CancellationToken.None);
        }
    })));
}
