using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// The AoE target's frame handler on random, truncated and mutated request frames (config queries and sets,
/// reads, IDENTIFY, writes) to an image slot and its manifest and boot profile companions: it may reply or drop, but
/// never write to a read-only device, and every reply must be a valid Ethernet frame no longer than its jumbo MTU.
/// </summary>
public sealed class AoeTargetFuzzTarget : IFuzzTarget
{
    private const int Mtu = 9000;
    private const int MaxFrameLength = AoeProtocol.EthernetHeaderLength + Mtu;
    private const ushort ManifestShelf = 1;
    private const ushort ProfileShelf = 2;
    private static readonly MacAddress Address = new(0x02_00_00_00_00_01);
    private readonly MemoryBlockDevice _image;
    private readonly MemoryBlockDevice _manifest;
    private readonly MemoryBlockDevice _profile;
    private readonly AoeTargetHandler _handler;
    private readonly FrameLimitChecker _replies;
    private readonly byte[][] _seeds =
    [
        AoeFrames.Config(Address, 0, 0, ConfigCommand.Set, "abc"),
        AoeFrames.Config(MacAddress.Broadcast, 0xFFFF, 0xFF, ConfigCommand.ForceSet, "x"),
        AoeFrames.Ata(Address, 0, 0, Ata.ReadSectorsExt, 100, 17),
        AoeFrames.Ata(Address, 0, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None),
        AoeFrames.Ata(Address, 0, 0, Ata.WriteSectorsExt, 5, 2, AtaFlags.Extended | AtaFlags.Write, dataLength: 1024),
        AoeFrames.Ata(Address, ManifestShelf, 0, Ata.ReadSectorsExt, 0, 8),
        AoeFrames.Ata(Address, ManifestShelf, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None),
        AoeFrames.Ata(Address, ProfileShelf, 0, Ata.ReadSectorsExt, 0, 2),
        AoeFrames.Config(Address, ProfileShelf, 0, ConfigCommand.Read),
    ];

    public AoeTargetFuzzTarget(Random random)
    {
        var data = new byte[1 << 20];
        random.NextBytes(data);
        _image = new MemoryBlockDevice(data, writable: false);
        var manifest = new byte[8 * AoeProtocol.SectorSize];
        random.NextBytes(manifest);
        _manifest = new MemoryBlockDevice(manifest, writable: false);
        _profile = new MemoryBlockDevice(CompanionFrame.Frame([.. BootProfile.Magic, .. "\n0\n7\n"u8]), writable: false);
        var slots = new AoeSlotTable([new AoeSlot(0, "fuzz", _image), new AoeSlot(0, "fuzz", _manifest, AoeSlotKind.Manifest),
            new AoeSlot(0, "fuzz", _profile, AoeSlotKind.Profile)]);
        _handler = new AoeTargetHandler(Address, Mtu, slots, new AoeTargetOptions { ManifestShelf = ManifestShelf, ProfileShelf = ProfileShelf }, NullLogger.Instance);
        _replies = new FrameLimitChecker(_handler.MaxReplyLength);
    }

    public string Name => "aoe_target";

    public byte[] Generate(Random random)
    {
        var frame = Mutations.Mutate(_seeds[random.Next(_seeds.Length)], random, MaxFrameLength + 100, 14..40);
        // Half the noise carries the AoE EtherType and version, so it gets past the first check.
        if (frame.Length >= 15 && random.Next(2) == 0)
        {
            frame[12] = 0x88;
            frame[13] = 0xA2;
            frame[14] = 0x10;
        }
        return frame;
    }

    public async Task FeedAsync(byte[] input, CancellationToken ct)
    {
        long refusedBefore = RefusedWrites;
        await _handler.HandleAsync(input, _replies, ct);
        if (RefusedWrites > refusedBefore)
            throw new FuzzViolationException("a frame made the target write to a read-only device");
    }

    private long RefusedWrites => _image.RefusedWrites + _manifest.RefusedWrites + _profile.RefusedWrites;

    public bool IsDocumented(Exception error) => false;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class FrameLimitChecker(int maxReplyLength) : IReplySink
    {
        private readonly byte[] _buffer = new byte[maxReplyLength];

        public Memory<byte> Reserve() => _buffer;

        public void Commit(int length)
        {
            if (length is < AoeProtocol.MinimumFrameLength or > MaxFrameLength)
                throw new FuzzViolationException($"the target sent a {length}-byte frame");
        }
    }
}
