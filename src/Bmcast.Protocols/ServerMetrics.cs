using System.Diagnostics.Metrics;
using Bmcast.Protocols.Nbd;

namespace Bmcast.Protocols;

/// <summary>
/// The image server's instruments (meter <c>Bmcast.Server</c>, docs/metrics.md): NBD and AoE requests, errors by
/// kind, bytes served. NBD's also count the streaming agent's own export, which serves the guest. Each name is its
/// Prometheus family name less the <c>_total</c> the exporter adds to counters; tag values are constant strings
/// or export names (bounded by the catalog: a name it lacks is refused in the handshake), so recording allocates
/// nothing.
/// </summary>
public static class ServerMetrics
{
    public const string MeterName = "Bmcast.Server";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> NbdConnections = Meter.CreateCounter<long>("bmcast_nbd_connections", null,
        "NBD connections accepted");
    private static readonly Counter<long> NbdRefused = Meter.CreateCounter<long>("bmcast_nbd_connections_refused", null,
        "NBD connections refused at once (connection limits)");
    private static readonly Counter<long> NbdConnectionErrors = Meter.CreateCounter<long>("bmcast_nbd_connection_errors", null,
        "NBD connections that ended in an error, by kind (protocol, tls, lost, internal)");
    private static readonly Counter<long> NbdRequests = Meter.CreateCounter<long>("bmcast_nbd_requests", null,
        "NBD requests received, by export and command");
    private static readonly Counter<long> NbdErrorReplies = Meter.CreateCounter<long>("bmcast_nbd_errors", null,
        "NBD requests answered with an error, by export, command and error (EINVAL: refused as invalid; others from the device)");
    private static readonly Counter<long> NbdBytes = Meter.CreateCounter<long>("bmcast_nbd_bytes", "By",
        "Bytes NBD requests read (served) or wrote, by export and op");

    private static readonly Counter<long> AoeRequests = Meter.CreateCounter<long>("bmcast_aoe_requests", null,
        "AoE requests addressed to a slot, by command (ata_read, ata_identify, ata_flush, ata_other, ata_write, config, other)");
    private static readonly Counter<long> AoeErrors = Meter.CreateCounter<long>("bmcast_aoe_errors", null,
        "AoE requests answered with an AoE or ATA error, by kind (bad_argument, unrecognized_command, config_string_present, read_only, unsupported, out_of_range, read_failed)");
    private static readonly Counter<long> AoeDropped = Meter.CreateCounter<long>("bmcast_aoe_dropped_frames", null,
        "AoE frames dropped unanswered: malformed, responses, or not for this target or from an initiator outside the allow-list");
    private static readonly Counter<long> AoeBytes = Meter.CreateCounter<long>("bmcast_aoe_read_bytes", "By",
        "Bytes AoE ATA reads served");
    private static readonly Counter<long> AoeInitiatorResends = Meter.CreateCounter<long>("bmcast_aoe_initiator_resends", null,
        "AoE requests our initiator sent again after a timeout");
    private static readonly Counter<long> AoeInitiatorSpuriousResends = Meter.CreateCounter<long>("bmcast_aoe_initiator_spurious_resends", null,
        "AoE resends that were not needed: a reply to an earlier send of the request came (the timeout was premature)");

    public static void RecordNbdConnection() => NbdConnections.Add(1);

    public static void RecordNbdRefusal() => NbdRefused.Add(1);

    public static void RecordNbdConnectionError(string kind) => NbdConnectionErrors.Add(1, Tag("kind", kind));

    public static void RecordNbdRequest(string export, NbdCommand command) =>
        NbdRequests.Add(1, Tag("export", export), Tag("command", Name(command)));

    public static void RecordNbdError(string export, NbdCommand command, NbdError error) =>
        NbdErrorReplies.Add(1, Tag("export", export), Tag("command", Name(command)), Tag("error", NbdErrors.Name(error)));

    public static void RecordNbdRead(string export, long bytes) => NbdBytes.Add(bytes, Tag("export", export), Tag("op", "read"));

    public static void RecordNbdWrite(string export, long bytes) => NbdBytes.Add(bytes, Tag("export", export), Tag("op", "write"));

    public static void RecordAoeRequest(string command) => AoeRequests.Add(1, Tag("command", command));

    public static void RecordAoeError(string kind) => AoeErrors.Add(1, Tag("kind", kind));

    public static void RecordAoeDropped() => AoeDropped.Add(1);

    public static void RecordAoeRead(long bytes) => AoeBytes.Add(bytes);

    public static void RecordAoeInitiatorResend() => AoeInitiatorResends.Add(1);

    public static void RecordAoeInitiatorSpuriousResends(int count) => AoeInitiatorSpuriousResends.Add(count);

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    private static string Name(NbdCommand command) => command switch
    {
        NbdCommand.Read => "read",
        NbdCommand.Write => "write",
        NbdCommand.Disconnect => "disconnect",
        NbdCommand.Flush => "flush",
        NbdCommand.Trim => "trim",
        NbdCommand.Cache => "cache",
        NbdCommand.WriteZeroes => "write_zeroes",
        NbdCommand.BlockStatus => "block_status",
        _ => "other",
    };
}
