using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// One AoE request from first send to completion, which happens exactly once: a reply, an error,
/// cancellation or giving up. Each (re)send takes a new tag, so a reply to an earlier send is late
/// and ignored rather than confused with the current one.
/// </summary>
internal sealed class AoeRequest(AoeCommand command, byte[] frame, Memory<byte> destination, ulong lba)
{
    public AoeCommand Command { get; } = command;

    /// <summary>The request frame; its tag bytes are rewritten on every send.</summary>
    public byte[] Frame { get; } = frame;

    /// <summary>Where an ATA reply's data goes (empty for config queries).</summary>
    public Memory<byte> Destination { get; } = destination;

    public ulong Lba { get; } = lba;

    public uint Tag { get; set; }

    public int Transmissions { get; set; }

    public long SentAt { get; set; }

    public long Deadline { get; set; }

    /// <summary>Who answered, and (config queries) with what.</summary>
    public MacAddress ReplySource { get; set; }

    public ConfigHeader Config { get; set; }

    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
