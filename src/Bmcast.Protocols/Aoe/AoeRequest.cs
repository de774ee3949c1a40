using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// One AoE request from first send to its end, which happens exactly once: a reply, an error, or its set
/// ending (failure, cancellation). Each (re)send takes a new tag, so every reply names the send it answers;
/// a reply to any of its sends is accepted (each carries the same data). The frame is written afresh at every send, into the
/// sender's batch, so a request owns no frame buffer. Guarded by the initiator's lock.
/// </summary>
internal sealed class AoeRequest(AoeRequestSet set, AoeCommand command, byte ataCommand, AtaFlags ataFlags, ulong lba, int sectors, Memory<byte> destination)
{
    public AoeRequestSet Set { get; } = set;

    public AoeCommand Command { get; } = command;

    /// <summary>Where an ATA reply's data goes (empty for config queries).</summary>
    public Memory<byte> Destination { get; } = destination;

    public ulong Lba { get; } = lba;

    public uint Tag { get; set; }

    /// <summary>
    /// The tags of the sends before the current one, oldest first (<see cref="Transmissions"/> - 1 of them): a reply to
    /// any is still welcome. Allocated at the first resend, which few requests see.
    /// </summary>
    public uint[]? EarlierTags { get; private set; }

    /// <summary>The current send is about to be superseded by a resend: remember its tag.</summary>
    public void Supersede(int maxTransmissions)
    {
        EarlierTags ??= new uint[maxTransmissions];
        EarlierTags[Transmissions - 1] = Tag;
    }

    public int Transmissions { get; set; }

    public long SentAt { get; set; }

    public long Deadline { get; set; }

    /// <summary>Answered, failed, or abandoned with its set: never send it again.</summary>
    public bool IsOver => _answered || Set.IsOver;

    /// <summary>Who answered, and (config queries) with what.</summary>
    public MacAddress ReplySource { get; private set; }

    public ConfigHeader Config { get; set; }

    private bool _answered;

    /// <summary>The request frame with the current tag; every request fits the 60-byte minimum frame.</summary>
    public int Write(Span<byte> frame, MacAddress destination, MacAddress source, ushort shelf, byte slot)
    {
        frame[..AoeProtocol.MinimumFrameLength].Clear();
        new AoeHeader(destination, source, AoeFlags.None, AoeError.None, shelf, slot, Command, Tag).Write(frame);
        if (Command == AoeCommand.Ata)
            new AtaHeader(ataFlags, 0, (byte)sectors, ataCommand, Lba).Write(frame);
        else
            new ConfigHeader(0, 0, 0, ConfigCommand.Read, 0).Write(frame, []);
        return AoeProtocol.MinimumFrameLength;
    }

    public void Answer(MacAddress source)
    {
        if (IsOver)
            return;
        _answered = true;
        ReplySource = source;
        Set.PartDone();
    }

    public void Fail(Exception error)
    {
        _answered = true;
        Set.Fail(error);
    }
}
