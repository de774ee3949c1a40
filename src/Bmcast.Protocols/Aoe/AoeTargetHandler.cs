using Bmcast.Core.Aoe;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// The target's whole protocol: one request frame in, zero or more reply frames out. Validation
/// happens here, at the edge: anything unparsable, a response, or a frame from a MAC outside the
/// allow-list is dropped without a word (AoE initiators resend); well-formed requests we cannot
/// honour get an AoE or ATA error. Exports are read-only, so nothing a frame says can write.
/// </summary>
public sealed class AoeTargetHandler(MacAddress address, int mtu, AoeSlotTable slots, AoeTargetOptions options, ILogger logger)
{
    /// <summary>How IDENTIFY's model string starts on our slots: an initiator can tell a bmcast target, which has manifests.</summary>
    public const string ModelPrefix = "bmcast ";
    private const ushort FirmwareVersion = 0x0001;
    private readonly int _sectorsPerFrame = Math.Min(byte.MaxValue, AoeProtocol.SectorsPerFrame(mtu));
    private readonly ushort _manifestShelf = CompanionShelf(options.ManifestShelf, slots, AoeSlotKind.Manifest);
    private readonly ushort _profileShelf = CompanionShelf(options.ProfileShelf, slots, AoeSlotKind.Profile);
    private long _dropped;

    /// <summary>Reply frames need this many bytes: a full frame at the MTU, or an IDENTIFY block if larger.</summary>
    public int MaxReplyLength => Math.Max(AoeProtocol.EthernetHeaderLength + mtu, AoeProtocol.AtaDataOffset + AtaIdentify.Length);

    public int SectorsPerFrame => _sectorsPerFrame;

    /// <summary>The shelf <paramref name="slot"/> answers on: the target's, or its companion shelf for a manifest or boot profile.</summary>
    public ushort ShelfOf(AoeSlot slot) => slot.Kind switch
    {
        AoeSlotKind.Image => options.Shelf,
        AoeSlotKind.Manifest => _manifestShelf,
        _ => _profileShelf,
    };

    /// <summary>Checked once here: a companion slot without its shelf would otherwise fail on every frame.</summary>
    private static ushort CompanionShelf(ushort? shelf, AoeSlotTable slots, AoeSlotKind kind) =>
        shelf ?? (slots.Current.Any(slot => slot.Kind == kind) ? throw new ArgumentException($"{kind} slots need a {kind} shelf") : (ushort)0);

    /// <summary>Frames dropped because they were malformed or not for us; for tests and logs.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public async ValueTask HandleAsync(ReadOnlyMemory<byte> request, IReplySink replies, CancellationToken cancellationToken)
    {
        if (!Accept(request.Span, out var header))
        {
            Interlocked.Increment(ref _dropped);
            ServerMetrics.RecordAoeDropped();
            return;
        }
        var current = slots.Current; // once: a refresh may replace it meanwhile
        for (int i = 0; i < current.Count; i++) // an index, not an enumerator: this runs for every frame
        {
            var slot = current[i];
            if (!AoeProtocol.Addresses(header.Major, header.Minor, ShelfOf(slot), slot.Number))
                continue;
            var reply = replies.Reserve();
            int length = header.Command switch
            {
                AoeCommand.Ata => await HandleAtaAsync(header, request, reply, slot, cancellationToken),
                AoeCommand.QueryConfig => HandleConfig(header, request.Span, reply.Span, slot),
                _ => Unrecognized(header, reply.Span, slot),
            };
            if (length > 0)
                replies.Commit(Pad(reply.Span, length));
        }
    }

    private bool Accept(ReadOnlySpan<byte> frame, out AoeHeader header)
    {
        if (AoeHeader.TryRead(frame, out header) != AoeFrameStatus.Valid || header.IsResponse || header.Source.IsGroup)
            return false;
        if (header.Destination != address && !header.Destination.IsBroadcast)
            return false;
        return options.AllowedInitiators is null || options.AllowedInitiators.Contains(header.Source);
    }

    private int HandleConfig(in AoeHeader header, ReadOnlySpan<byte> request, Span<byte> reply, AoeSlot slot)
    {
        ServerMetrics.RecordAoeRequest("config");
        var status = ConfigHeader.TryRead(request, out var config);
        if (status != AoeFrameStatus.Valid)
            return WriteError(header, reply, slot, AoeError.BadArgument);
        var value = config.StringOf(request);
        byte[] current = slot.ConfigString;
        switch (config.Command)
        {
            case ConfigCommand.Read:
                break;
            case ConfigCommand.Test when !value.SequenceEqual(current):
            case ConfigCommand.TestPrefix when !current.AsSpan().StartsWith(value):
                return 0; // the spec: a failed test is not answered at all
            case ConfigCommand.Test or ConfigCommand.TestPrefix:
                break;
            case ConfigCommand.Set or ConfigCommand.ForceSet:
                if (!slot.TrySet(value, config.Command == ConfigCommand.ForceSet))
                    return WriteError(header, reply, slot, AoeError.ConfigStringPresent);
                current = slot.ConfigString;
                break;
            default:
                return WriteError(header, reply, slot, AoeError.BadArgument);
        }
        header.ReplyFrom(address, ShelfOf(slot), slot.Number).Write(reply);
        return new ConfigHeader(options.BufferCount, FirmwareVersion, (byte)_sectorsPerFrame, config.Command, (ushort)current.Length)
            .Write(reply, current);
    }

    private async ValueTask<int> HandleAtaAsync(AoeHeader header, ReadOnlyMemory<byte> request, Memory<byte> reply, AoeSlot slot, CancellationToken cancellationToken)
    {
        if (AtaHeader.TryRead(request.Span, out var ata) != AoeFrameStatus.Valid)
        {
            ServerMetrics.RecordAoeRequest("ata_other");
            return WriteError(header, reply.Span, slot, AoeError.BadArgument);
        }
        byte command = ata.CommandOrStatus;
        ServerMetrics.RecordAoeRequest(AtaKind(ata, command));
        if (ata.IsWrite || Ata.IsWrite(command))
            return WriteAtaError(header, ata, reply.Span, slot, "read_only", Ata.ErrorAborted);
        if (command == Ata.IdentifyDevice)
        {
            AtaIdentify.Write(reply.Span[AoeProtocol.AtaDataOffset..], slot.Sectors, ModelPrefix + slot.Description,
                $"bmcast-{ShelfOf(slot)}.{slot.Number}", "1.0");
            return WriteAta(header, ata, reply.Span, slot, Ata.StatusReady, 0, AtaIdentify.Length);
        }
        if (command is Ata.FlushCache or Ata.FlushCacheExt or Ata.CheckPowerMode)
            return WriteAta(header, ata with { SectorCount = command == Ata.CheckPowerMode ? (byte)0xFF : ata.SectorCount },
                reply.Span, slot, Ata.StatusReady, 0, 0);
        if (!Ata.IsRead(command))
            return WriteAtaError(header, ata, reply.Span, slot, "unsupported", Ata.ErrorAborted);
        if (ata.SectorCount > _sectorsPerFrame)
            return WriteError(header, reply.Span, slot, AoeError.BadArgument);
        ulong lba = ata.EffectiveLba;
        if (lba + ata.SectorCount > slot.Sectors)
            return WriteAtaError(header, ata, reply.Span, slot, "out_of_range", Ata.ErrorIdNotFound | Ata.ErrorAborted);
        int length = ata.SectorCount * AoeProtocol.SectorSize;
        try
        {
            await ReadAsync(slot, (long)lba * AoeProtocol.SectorSize, reply.Slice(AoeProtocol.AtaDataOffset, length), cancellationToken);
        }
        catch (IOException e)
        {
            logger.LogWarning("e{Shelf}.{Slot} ({Name}): read of {Count} sectors at {Lba} failed: {Message}",
                ShelfOf(slot), slot.Number, slot.Description, ata.SectorCount, lba, e.Message);
            ServerMetrics.RecordAoeError("read_failed");
            return WriteAta(header, ata, reply.Span, slot, Ata.StatusReady | Ata.StatusError | Ata.StatusDeviceFault, Ata.ErrorAborted, 0);
        }
        ServerMetrics.RecordAoeRead(length);
        return WriteAta(header, ata, reply.Span, slot, Ata.StatusReady, 0, length);
    }

    /// <summary>The kind of an ATA request, for <see cref="ServerMetrics"/>: constant strings, no allocation per frame.</summary>
    private static string AtaKind(in AtaHeader ata, byte command) =>
        ata.IsWrite || Ata.IsWrite(command) ? "ata_write"
        : command == Ata.IdentifyDevice ? "ata_identify"
        : command is Ata.FlushCache or Ata.FlushCacheExt ? "ata_flush"
        : Ata.IsRead(command) ? "ata_read"
        : "ata_other";

    private int Unrecognized(in AoeHeader header, Span<byte> reply, AoeSlot slot)
    {
        ServerMetrics.RecordAoeRequest("other");
        return WriteError(header, reply, slot, AoeError.UnrecognizedCommand);
    }

    /// <summary>An ATA command refused with an error status, counted by <paramref name="kind"/>.</summary>
    private int WriteAtaError(in AoeHeader header, in AtaHeader request, Span<byte> reply, AoeSlot slot, string kind, byte error)
    {
        ServerMetrics.RecordAoeError(kind);
        return WriteAta(header, request, reply, slot, Ata.StatusReady | Ata.StatusError, error, 0);
    }

    /// <summary>Read, zero-filling the part of the last sector beyond the device's end.</summary>
    private static async ValueTask ReadAsync(AoeSlot slot, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int inside = (int)Math.Clamp(slot.Device.Size - offset, 0, buffer.Length);
        if (inside > 0)
            await slot.ReadAsync(offset, buffer[..inside], cancellationToken);
        buffer.Span[inside..].Clear();
    }

    private int WriteAta(in AoeHeader header, in AtaHeader request, Span<byte> reply, AoeSlot slot, byte status, byte error, int dataLength)
    {
        header.ReplyFrom(address, ShelfOf(slot), slot.Number).Write(reply);
        (request with { ErrorOrFeature = error, CommandOrStatus = status }).Write(reply);
        return AoeProtocol.AtaDataOffset + dataLength;
    }

    private int WriteError(in AoeHeader header, Span<byte> reply, AoeSlot slot, AoeError error)
    {
        ServerMetrics.RecordAoeError(error switch
        {
            AoeError.BadArgument => "bad_argument",
            AoeError.UnrecognizedCommand => "unrecognized_command",
            AoeError.ConfigStringPresent => "config_string_present",
            _ => "other",
        });
        (header.ReplyFrom(address, ShelfOf(slot), slot.Number) with { Flags = AoeFlags.Response | AoeFlags.Error, Error = error }).Write(reply);
        return AoeProtocol.HeaderLength;
    }

    private static int Pad(Span<byte> reply, int length)
    {
        if (length >= AoeProtocol.MinimumFrameLength)
            return length;
        reply[length..AoeProtocol.MinimumFrameLength].Clear();
        return AoeProtocol.MinimumFrameLength;
    }
}
