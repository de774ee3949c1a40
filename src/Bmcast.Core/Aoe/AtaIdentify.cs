using System.Buffers.Binary;

namespace Bmcast.Core.Aoe;

/// <summary>
/// The 512-byte IDENTIFY DEVICE block (256 little-endian words, ATA/ATAPI-8), reduced to what AoE
/// initiators read: capacity (LBA28 words 60-61, LBA48 words 100-103, flagged by bit 10 of words
/// 83 and 86) and the serial, firmware and model strings.
/// </summary>
public static class AtaIdentify
{
    public const int Length = 512;
    private const ulong MaxLba28Sectors = 0x0FFF_FFFF;

    public static void Write(Span<byte> block, ulong sectors, ReadOnlySpan<char> model, ReadOnlySpan<char> serial, ReadOnlySpan<char> firmware)
    {
        block[..Length].Clear();
        SetWord(block, 0, 0x0040);                  // fixed, non-removable ATA device
        WriteString(block, 10, 20, serial);
        WriteString(block, 23, 8, firmware);
        WriteString(block, 27, ModelLength, model);
        SetWord(block, 49, 0x0300);                 // LBA and DMA supported
        SetWord(block, 53, 0x0006);                 // words 64-70 and 88 valid
        uint lba28 = (uint)Math.Min(sectors, MaxLba28Sectors);
        SetWord(block, 60, (ushort)lba28);
        SetWord(block, 61, (ushort)(lba28 >> 16));
        SetWord(block, 80, 0x00F0);                 // ATA-4 to ATA-7
        SetWord(block, 82, 0x4000);
        SetWord(block, 83, 0x4400);                 // LBA48 supported
        SetWord(block, 84, 0x4000);
        SetWord(block, 85, 0x4000);
        SetWord(block, 86, 0x0400);                 // LBA48 enabled
        SetWord(block, 87, 0x4000);
        BinaryPrimitives.WriteUInt64LittleEndian(block[200..], sectors);
    }

    /// <summary>Sector count from an IDENTIFY block: LBA48 when words 83/86 say so, else LBA28.</summary>
    public static ulong ReadSectors(ReadOnlySpan<byte> block)
    {
        bool lba48 = ((Word(block, 83) | Word(block, 86)) & 0x0400) != 0;
        return lba48
            ? BinaryPrimitives.ReadUInt64LittleEndian(block[200..]) & AtaHeader.MaxLba
            : BinaryPrimitives.ReadUInt32LittleEndian(block[120..]);
    }

    public const int ModelLength = 40;

    /// <summary>The model string (words 27-46) into <paramref name="model"/> (at least <see cref="ModelLength"/>); returns its length without the padding.</summary>
    public static int ReadModel(ReadOnlySpan<byte> block, Span<char> model)
    {
        for (int i = 0; i < ModelLength; i++)
            model[i] = (char)block[27 * 2 + (i ^ 1)];
        return model[..ModelLength].TrimEnd(' ').Length;
    }

    /// <summary>ATA strings hold two characters per word, the first in the high byte, padded with spaces.</summary>
    private static void WriteString(Span<byte> block, int word, int length, ReadOnlySpan<char> text)
    {
        for (int i = 0; i < length; i++)
        {
            char c = i < text.Length && text[i] is >= ' ' and <= '~' ? text[i] : ' ';
            block[word * 2 + (i ^ 1)] = (byte)c;
        }
    }

    private static void SetWord(Span<byte> block, int word, ushort value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block[(word * 2)..], value);

    private static ushort Word(ReadOnlySpan<byte> block, int word) =>
        BinaryPrimitives.ReadUInt16LittleEndian(block[(word * 2)..]);
}
