using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// 10^5 random, truncated and mutated frames against each side's frame handler: nothing escapes,
/// the target never writes, and the initiator completes nothing it did not ask for.
/// </summary>
public sealed class AoeFuzzTests
{
    private const int Frames = 100_000;
    private static readonly MacAddress Target = new(0x02_00_00_00_00_01);

    [Fact]
    public async Task TargetSurvivesGarbage()
    {
        var device = new ReadOnlyTestDevice(ReadOnlyTestDevice.RandomData(1 << 20, seed: 1));
        var handler = new AoeTargetHandler(Target, 9000, [new AoeSlot(0, "a", device)], new AoeTargetOptions(), NullLogger.Instance);
        var sender = new CountingSink(handler.MaxReplyLength);
        var random = new Random(2024);
        byte[][] seeds =
        [
            AoeFrames.Config(Target, 0, 0, ConfigCommand.Set, "abc"),
            AoeFrames.Config(MacAddress.Broadcast, 0xFFFF, 0xFF, ConfigCommand.ForceSet, "x"),
            AoeFrames.Ata(Target, 0, 0, Ata.ReadSectorsExt, 100, 17),
            AoeFrames.Ata(Target, 0, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None),
            AoeFrames.Ata(Target, 0, 0, Ata.WriteSectorsExt, 5, 2, AtaFlags.Extended | AtaFlags.Write, dataLength: 1024),
        ];
        for (int i = 0; i < Frames; i++)
        {
            byte[] frame = Mutate(seeds[random.Next(seeds.Length)], random, 9100);
            await handler.HandleAsync(frame, sender, TestContext.Current.CancellationToken);
        }
        Assert.Equal(0, device.Writes);
        Assert.True(sender.Count > 0 && handler.Dropped > 0, $"{sender.Count} replies, {handler.Dropped} dropped");
    }

    [Fact]
    public async Task InitiatorSurvivesGarbage()
    {
        var (targetEnd, initiatorEnd) = InMemoryLink.Create();
        var slots = new[] { new AoeSlot(0, "a", new ReadOnlyTestDevice(ReadOnlyTestDevice.RandomData(64 * 1024, seed: 4))) };
        var handler = new AoeTargetHandler(targetEnd.Address, 1500, slots, new AoeTargetOptions(), NullLogger.Instance);
        var serving = Task.Run(() => Serve(targetEnd, handler), TestContext.Current.CancellationToken);
        await using var initiator = await AoeInitiator.ConnectAsync(initiatorEnd, 0, 0, cancellationToken: TestContext.Current.CancellationToken);

        // Seeds: genuine replies (config, identify, data) whose tags are long retired.
        var recorder = new RecordingSink(handler.MaxReplyLength);
        foreach (var request in new[]
                 {
                     AoeFrames.Config(targetEnd.Address, 0, 0, ConfigCommand.Read),
                     AoeFrames.Ata(targetEnd.Address, 0, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None),
                     AoeFrames.Ata(targetEnd.Address, 0, 0, Ata.ReadSectorsExt, 3, 2),
                 })
        {
            initiatorEnd.Address.Write(request.AsSpan(6));
            await handler.HandleAsync(request, recorder, TestContext.Current.CancellationToken);
        }
        var random = new Random(77);
        var outcomes = new Dictionary<AoeReplyOutcome, int>();
        for (int i = 0; i < Frames; i++)
        {
            var outcome = initiator.HandleReply(Mutate(recorder.Frames[random.Next(recorder.Frames.Count)], random, 1600));
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        Assert.False(outcomes.ContainsKey(AoeReplyOutcome.Completed) || outcomes.ContainsKey(AoeReplyOutcome.Failed),
            string.Join(", ", outcomes.Select(o => $"{o.Key}={o.Value}")));

        // Still healthy afterwards.
        var data = new byte[4096];
        await initiator.ReadSectorsAsync(0, data, TestContext.Current.CancellationToken);
        Assert.Equal(slots[0].Device.Size / 512, (long)initiator.Sectors);
        targetEnd.Dispose();
        await serving;
    }

    private static async Task Serve(InMemoryLink.Endpoint end, AoeTargetHandler handler)
    {
        var request = new byte[10_000];
        var replies = new RecordingSink(handler.MaxReplyLength, end);
        try
        {
            while (true)
            {
                int length = end.Receive(request);
                await handler.HandleAsync(request.AsMemory(0, length), replies, CancellationToken.None);
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Truncate, extend, flip bytes or splice noise into a valid frame, or make pure noise.</summary>
    private static byte[] Mutate(byte[] seed, Random random, int maxLength)
    {
        switch (random.Next(5))
        {
            case 0:
                var noise = new byte[random.Next(maxLength)];
                random.NextBytes(noise);
                if (noise.Length >= 15 && random.Next(2) == 0)
                {
                    noise[12] = 0x88;
                    noise[13] = 0xA2;
                    noise[14] = 0x10;
                }
                return noise;
            case 1:
                return seed[..random.Next(seed.Length)];
            default:
                var frame = new byte[random.Next(2) == 0 ? seed.Length : random.Next(seed.Length, maxLength)];
                seed.CopyTo(frame, 0);
                for (int flips = random.Next(1, 4); flips > 0; flips--)
                    frame[random.Next(14, Math.Min(frame.Length, 40))] = (byte)random.Next(256);
                return frame;
        }
    }

    private sealed class CountingSink(int frameSize) : IReplySink
    {
        private readonly byte[] _buffer = new byte[frameSize];

        public int Count;

        public Memory<byte> Reserve() => _buffer;

        public void Commit(int length)
        {
            Assert.InRange(length, AoeProtocol.MinimumFrameLength, 9014);
            Count++;
        }
    }
}
