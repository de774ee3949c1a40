using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// One AoE request from first send to its end, which happens exactly once: a reply, an error, or its set
/// ending (failure, cancellation). Each (re)send takes a new tag, so every reply names the send it answers;
/// a reply to any of its sends is accepted (each carries the same data). The frame is written afresh at every send, into the
/// sender's batch, so a request owns no frame buffer. A read's requests come from the initiator's spares and go back
/// once the read is over and none of their tags is known any more (<see cref="Start"/> begins each life), so a
/// steady stream of reads allocates no request per frame. Guarded by the initiator's lock.
/// </summary>
internal sealed class AoeRequest
{
    private byte _ataCommand;
    private AtaFlags _ataFlags;
    private int _sectors;
    private bool _answered;

    /// <summary>The read this life of the request belongs to; a queue entry naming another set is stale.</summary>
    public AoeRequestSet Set { get; private set; } = null!;

    public AoeCommand Command { get; private set; }

    /// <summary>Where an ATA reply's data goes (empty for config queries).</summary>
    public Memory<byte> Destination { get; private set; }

    public ulong Lba { get; private set; }

    public uint Tag { get; set; }

    /// <summary>The next part of the same read; between lives, the next spare.</summary>
    public AoeRequest? Next { get; set; }

    /// <summary>
    /// The tags of the sends before the current one, oldest first (<see cref="Transmissions"/> - 1 of them): a reply to
    /// any is still welcome. Allocated at the first resend, which few requests see, and kept across lives.
    /// </summary>
    public uint[]? EarlierTags { get; private set; }

    public int Transmissions { get; set; }

    public long SentAt { get; set; }

    public long Deadline { get; set; }

    /// <summary>Answered, failed, or abandoned with its set: never send it again.</summary>
    public bool IsOver => _answered || Set.IsOver;

    /// <summary>Who answered, and (config queries) with what.</summary>
    public MacAddress ReplySource { get; private set; }

    public ConfigHeader Config { get; set; }

    /// <summary>Begin a life as part <paramref name="set"/> of a read (or a query), never sent yet.</summary>
    public AoeRequest Start(AoeRequestSet set, AoeCommand command, byte ataCommand, AtaFlags ataFlags, ulong lba, int sectors, Memory<byte> destination)
    {
        Set = set;
        Command = command;
        _ataCommand = ataCommand;
        _ataFlags = ataFlags;
        Lba = lba;
        _sectors = sectors;
        Destination = destination;
        Tag = 0;
        Transmissions = 0;
        SentAt = 0;
        Deadline = 0;
        ReplySource = default;
        Config = default;
        _answered = false;
        return this;
    }

    /// <summary>The current send is about to be superseded by a resend: remember its tag.</summary>
    public void Supersede(int maxTransmissions)
    {
        if (EarlierTags is null || EarlierTags.Length < maxTransmissions)
            EarlierTags = new uint[maxTransmissions];
        EarlierTags[Transmissions - 1] = Tag;
    }

    /// <summary>The request frame with the current tag; every request fits the 60-byte minimum frame.</summary>
    public int Write(Span<byte> frame, MacAddress destination, MacAddress source, ushort shelf, byte slot)
    {
        frame[..AoeProtocol.MinimumFrameLength].Clear();
        new AoeHeader(destination, source, AoeFlags.None, AoeError.None, shelf, slot, Command, Tag).Write(frame);
        if (Command == AoeCommand.Ata)
            new AtaHeader(_ataFlags, 0, (byte)_sectors, _ataCommand, Lba).Write(frame);
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
