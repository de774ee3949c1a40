using System.Buffers.Binary;

namespace Bmcast.Core.Aoe;

/// <summary>A 48-bit Ethernet address held in a <see cref="ulong"/>, so comparing and storing one never allocates.</summary>
public readonly record struct MacAddress(ulong Value)
{
    public const int Length = 6;

    public static MacAddress Broadcast => new(0xFFFF_FFFF_FFFFUL);

    public bool IsBroadcast => Value == Broadcast.Value;

    /// <summary>Group (multicast or broadcast) addresses have the low bit of the first byte set.</summary>
    public bool IsGroup => (Value & 0x0100_0000_0000UL) != 0;

    public static MacAddress Read(ReadOnlySpan<byte> source) =>
        new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(source) << 32) | BinaryPrimitives.ReadUInt32BigEndian(source[2..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)Value);
    }

    /// <summary>Parse <c>aa:bb:cc:dd:ee:ff</c> (or with dashes).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress address)
    {
        address = default;
        if (text.Length != 17)
            return false;
        ulong value = 0;
        for (int i = 0; i < Length; i++)
        {
            if (i > 0 && text[i * 3 - 1] is not (':' or '-'))
                return false;
            if (!byte.TryParse(text.Slice(i * 3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
                return false;
            value = (value << 8) | b;
        }
        address = new MacAddress(value);
        return true;
    }

    public override string ToString() => string.Create(17, Value, static (span, value) =>
    {
        const string Hex = "0123456789abcdef";
        for (int i = 0; i < Length; i++)
        {
            int b = (int)(value >> (40 - 8 * i)) & 0xFF;
            if (i > 0)
                span[i * 3 - 1] = ':';
            span[i * 3] = Hex[b >> 4];
            span[i * 3 + 1] = Hex[b & 0xF];
        }
    });
}
