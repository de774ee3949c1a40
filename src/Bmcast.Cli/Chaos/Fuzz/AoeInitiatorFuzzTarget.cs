using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Cli.Chaos.Fuzz;

/// <summary>
/// A connected <see cref="AoeInitiator"/> with nothing outstanding, fed mutations of genuine replies (config,
/// IDENTIFY, data) whose tags are long retired: it must drop every one, completing or failing no request.
/// Every so often it reads from its target, which must still work and return the image's bytes.
/// </summary>
internal sealed class AoeInitiatorFuzzTarget : IFuzzTarget
{
    private const int Mtu = 1500;
    private const int ReadBackEvery = 1000;
    private static readonly MacAddress TargetAddress = new(0x02_00_00_00_00_0A);
    private static readonly MacAddress InitiatorAddress = new(0x02_00_00_00_00_0B);
    private readonly AoeInitiator _initiator;
    private readonly List<byte[]> _seeds;
    private readonly byte[] _image;
    private readonly byte[] _readBack = new byte[8 * AoeProtocol.SectorSize];
    private long _fed;

    private AoeInitiatorFuzzTarget(AoeInitiator initiator, List<byte[]> seeds, byte[] image)
    {
        _initiator = initiator;
        _seeds = seeds;
        _image = image;
    }

    public static async Task<AoeInitiatorFuzzTarget> CreateAsync(Random random, CancellationToken ct)
    {
        var data = new byte[64 << 10];
        random.NextBytes(data);
        var handler = new AoeTargetHandler(TargetAddress, Mtu, new AoeSlotTable([new AoeSlot(0, "fuzz", new MemoryBlockDevice(data, writable: false))]),
            new AoeTargetOptions(), NullLogger.Instance);
        var initiator = await AoeInitiator.ConnectAsync(new LoopbackFrameChannel(InitiatorAddress, Mtu, handler), 0, 0, cancellationToken: ct);
        var recorder = new ReplyRecorder(handler.MaxReplyLength);
        foreach (var request in new[]
                 {
                     AoeFrames.Config(TargetAddress, 0, 0, ConfigCommand.Read),
                     AoeFrames.Ata(TargetAddress, 0, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None),
                     AoeFrames.Ata(TargetAddress, 0, 0, Ata.ReadSectorsExt, 3, 2),
                 })
        {
            InitiatorAddress.Write(request.AsSpan(6));
            await handler.HandleAsync(request, recorder, ct);
        }
        return new AoeInitiatorFuzzTarget(initiator, recorder.Frames, data);
    }

    public string Name => "aoe_initiator";

    public byte[] Generate(Random random) =>
        Mutations.Mutate(_seeds[random.Next(_seeds.Count)], random, AoeProtocol.EthernetHeaderLength + Mtu + 100, 14..40);

    public async Task FeedAsync(byte[] input, CancellationToken ct)
    {
        var outcome = _initiator.HandleReply(input);
        if (outcome is AoeReplyOutcome.Completed or AoeReplyOutcome.Failed)
            throw new FuzzViolationException($"a stray frame was taken as the answer to a request ({outcome})");
        if (++_fed % ReadBackEvery == 0)
            await ReadBackAsync(ct);
    }

    private async Task ReadBackAsync(CancellationToken ct)
    {
        ulong sectors = (ulong)(_image.Length - _readBack.Length) / AoeProtocol.SectorSize;
        ulong lba = (ulong)(_fed / ReadBackEvery) % sectors;
        await _initiator.ReadSectorsAsync(lba, _readBack, ct);
        if (!_readBack.AsSpan().SequenceEqual(_image.AsSpan((int)lba * AoeProtocol.SectorSize, _readBack.Length)))
            throw new FuzzViolationException($"after {_fed} stray frames, a read at sector {lba} returned wrong data");
    }

    public bool IsDocumented(Exception error) => false;

    public ValueTask DisposeAsync() => _initiator.DisposeAsync();
}
