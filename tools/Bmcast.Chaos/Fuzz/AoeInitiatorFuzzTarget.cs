using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// A connected <see cref="AoeInitiator"/> with nothing outstanding, fed mutations of genuine replies (config,
/// IDENTIFY, data) whose tags are long retired: it must drop every one, completing or failing no request.
/// Every so often it reads from its target (a real <see cref="AoeTarget"/> over an in-memory link), which
/// must still work and return the image's bytes.
/// </summary>
public sealed class AoeInitiatorFuzzTarget : IFuzzTarget
{
    private const int Mtu = 1500;
    private const int ReadBackEvery = 1000;
    private readonly AoeTarget _target;
    private readonly CancellationTokenSource _stopServing;
    private readonly Task _serving;
    private readonly AoeInitiator _initiator;
    private readonly List<byte[]> _seeds;
    private readonly byte[] _image;
    private readonly byte[] _readBack = new byte[8 * AoeProtocol.SectorSize];
    private long _fed;

    private AoeInitiatorFuzzTarget(AoeTarget target, CancellationTokenSource stopServing, Task serving, AoeInitiator initiator,
        List<byte[]> seeds, byte[] image)
    {
        _target = target;
        _stopServing = stopServing;
        _serving = serving;
        _initiator = initiator;
        _seeds = seeds;
        _image = image;
    }

    public static async Task<AoeInitiatorFuzzTarget> CreateAsync(Random random, CancellationToken ct)
    {
        var data = new byte[64 << 10];
        random.NextBytes(data);
        var (targetEnd, initiatorEnd) = InMemoryLink.Create(Mtu);
        var target = await AoeTarget.CreateAsync(targetEnd, new MemoryExportCatalog().Add("fuzz", () => new MemoryBlockDevice(data, writable: false)),
            new AoeTargetOptions { Workers = 1 }, NullLogger.Instance, ct);
        var stopServing = new CancellationTokenSource();
        var serving = target.RunAsync(stopServing.Token);
        AoeInitiator initiator;
        try
        {
            initiator = await AoeInitiator.ConnectAsync(initiatorEnd, 0, 0, cancellationToken: ct);
        }
        catch
        {
            await StopServingAsync(target, stopServing, serving);
            throw;
        }
        var recorder = new ReplyRecorder(target.Handler.MaxReplyLength);
        foreach (var request in new[]
                 {
                     AoeFrames.Config(targetEnd.Address, 0, 0, ConfigCommand.Read),
                     AoeFrames.Ata(targetEnd.Address, 0, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None),
                     AoeFrames.Ata(targetEnd.Address, 0, 0, Ata.ReadSectorsExt, 3, 2),
                 })
        {
            initiatorEnd.Address.Write(request.AsSpan(6));
            await target.Handler.HandleAsync(request, recorder, ct);
        }
        return new AoeInitiatorFuzzTarget(target, stopServing, serving, initiator, recorder.Frames, data);
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

    public async ValueTask DisposeAsync()
    {
        await _initiator.DisposeAsync();
        await StopServingAsync(_target, _stopServing, _serving);
    }

    private static async Task StopServingAsync(AoeTarget target, CancellationTokenSource stopServing, Task serving)
    {
        await stopServing.CancelAsync();
        await serving;
        await target.DisposeAsync();
        stopServing.Dispose();
    }
}
