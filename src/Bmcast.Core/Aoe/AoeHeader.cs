using System.Buffers.Binary;

namespace Bmcast.Core.Aoe;

/// <summary>
/// The Ethernet and AoE headers (bytes 0-23). The tag is opaque to the target and echoed in the
/// reply; initiators use it to match replies to requests.
/// </summary>
public readonly record struct AoeHeader(
    MacAddress Destination,
    MacAddress Source,
    AoeFlags Flags,
    AoeError Error,
    ushort Major,
    byte Minor,
    AoeCommand Command,
    uint Tag)
{
    public bool IsResponse => (Flags & AoeFlags.Response) != 0;

    public bool IsError => (Flags & AoeFlags.Error) != 0;

    public static AoeFrameStatus TryRead(ReadOnlySpan<byte> frame, out AoeHeader header)
    {
        header = default;
        if (frame.Length < AoeProtocol.HeaderLength)
            return AoeFrameStatus.Truncated;
        if (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != AoeProtocol.EtherType)
            return AoeFrameStatus.NotAoe;
        if (frame[14] >> 4 != AoeProtocol.Version)
            return AoeFrameStatus.UnsupportedVersion;
        header = new AoeHeader(
            MacAddress.Read(frame),
            MacAddress.Read(frame[6..]),
            (AoeFlags)(frame[14] & 0x0F),
            (AoeError)frame[15],
            BinaryPrimitives.ReadUInt16BigEndian(frame[16..]),
            frame[18],
            (AoeCommand)frame[19],
            BinaryPrimitives.ReadUInt32BigEndian(frame[20..]));
        return AoeFrameStatus.Valid;
    }

    /// <summary>Write bytes 0-23; <paramref name="frame"/> must hold at least <see cref="AoeProtocol.HeaderLength"/> bytes.</summary>
    public void Write(Span<byte> frame)
    {
        Destination.Write(frame);
        Source.Write(frame[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], AoeProtocol.EtherType);
        frame[14] = (byte)((AoeProtocol.Version << 4) | ((int)Flags & 0x0F));
        frame[15] = (byte)Error;
        BinaryPrimitives.WriteUInt16BigEndian(frame[16..], Major);
        frame[18] = Minor;
        frame[19] = (byte)Command;
        BinaryPrimitives.WriteUInt32BigEndian(frame[20..], Tag);
    }

    /// <summary>The header of the reply to this request, sent from <paramref name="source"/> for shelf.slot.</summary>
    public AoeHeader ReplyFrom(MacAddress source, ushort shelf, byte slot) =>
        new(Source, source, AoeFlags.Response, AoeError.None, shelf, slot, Command, Tag);
}

[Flags]
public enum AoeFlags : byte
{
    None = 0,
    Error = 0x04,
    Response = 0x08,
}

public enum AoeCommand : byte
{
    Ata = 0,
    QueryConfig = 1,
    MacMaskList = 2,
    ReserveRelease = 3,
}

/// <summary>The AoE header's error field, meaningful when <see cref="AoeFlags.Error"/> is set.</summary>
public enum AoeError : byte
{
    None = 0,
    UnrecognizedCommand = 1,
    BadArgument = 2,
    DeviceUnavailable = 3,
    ConfigStringPresent = 4,
    UnsupportedVersion = 5,
    TargetReserved = 6,
}
