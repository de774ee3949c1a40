using System.Buffers.Binary;

namespace Bmcast.Chaos.StateDamage;

/// <summary>What is done to a state file while its agent is dead (issue 15, defect 3, and more).</summary>
public enum StateDamageKind
{
    /// <summary>Nothing: a plain kill, the control.</summary>
    None,
    /// <summary>The reproduction of defect 3: bitmap bytes set to 0xFF, in both slots of a page.</summary>
    BitmapOnesBothSlots,
    /// <summary>Bitmap bytes set to 0xFF in the slot of a page's newest commit only.</summary>
    BitmapOnesNewestSlot,
    /// <summary>
    /// A commit cut short by a power cut: sectors of the slot the next commit writes replaced, and (half the time) its
    /// table entry announcing that commit, with a checksum the torn slot does not match.
    /// </summary>
    TornNextSlot,
    /// <summary>Random bytes over part of the slot the next commit would write (the older one).</summary>
    RandomBytesOlderSlot,
    /// <summary>Random bytes over part of the slot of a page's newest commit.</summary>
    RandomBytesNewestSlot,
    RandomBytesHeader,
    RandomBytesTable,
    /// <summary>The two slots of a page exchanged (their table entries left in place).</summary>
    SwappedSlots,
    /// <summary>The file cut short.</summary>
    Truncated,
    /// <summary>Random bytes appended.</summary>
    Extended,
    /// <summary>The state file deleted, its target left.</summary>
    Removed,
}

/// <summary>Applies a <see cref="StateDamageKind"/> to a state file and says what it did.</summary>
public static class StateFileDamage
{
    private const int Sector = 512;

    /// <summary>
    /// Damage the format promises to survive with nothing acknowledged lost: what a crash does to a commit under way,
    /// damage to a slot the loader does not use, bytes past the end. A flushed write lost after any of these is a loss
    /// even when the agent reported damage.
    /// </summary>
    public static bool Survivable(StateDamageKind kind) => kind is StateDamageKind.None or StateDamageKind.TornNextSlot
        or StateDamageKind.RandomBytesOlderSlot or StateDamageKind.Extended or StateDamageKind.Removed;

    public static async Task<string> ApplyAsync(StateDamageKind kind, string path, StateFileLayout layout, Random random, CancellationToken ct)
    {
        if (kind == StateDamageKind.Removed)
        {
            File.Delete(path);
            return "state file removed";
        }
        byte[] file = await File.ReadAllBytesAsync(path, ct);
        int page = random.Next(layout.Pages);
        int newest = layout.NewestSlot(file, page);
        int older = 1 - newest;
        string what;
        switch (kind)
        {
            case StateDamageKind.None:
                return "no damage";
            case StateDamageKind.BitmapOnesBothSlots:
                what = $"page {page}: {Ones(file, layout.Slot(page, 0), layout.BitmapBytes(page), random)} and {Ones(file, layout.Slot(page, 1), layout.BitmapBytes(page), random)}";
                break;
            case StateDamageKind.BitmapOnesNewestSlot:
                what = $"page {page} slot {newest}: {Ones(file, layout.Slot(page, newest), layout.BitmapBytes(page), random)}";
                break;
            case StateDamageKind.TornNextSlot:
                what = $"page {page} slot {older}: {RandomSectors(file, layout.Slot(page, older), random)}";
                if (random.Next(2) == 0)
                {
                    long entry = layout.TableEntry(page, older);
                    BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan((int)entry), layout.Sequence(file, page, newest) + 1);
                    BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan((int)entry + 8), (ulong)random.NextInt64());
                    what += ", its table entry announcing the next commit";
                }
                break;
            case StateDamageKind.RandomBytesOlderSlot:
                what = $"page {page} slot {older}: {RandomBytes(file, layout.Slot(page, older), layout.BitmapBytes(page), random)}";
                break;
            case StateDamageKind.RandomBytesNewestSlot:
                what = $"page {page} slot {newest}: {RandomBytes(file, layout.Slot(page, newest), layout.BitmapBytes(page), random)}";
                break;
            case StateDamageKind.RandomBytesHeader:
                what = $"header: {RandomBytes(file, 0, StateFileLayout.PageBytes, random)}";
                break;
            case StateDamageKind.RandomBytesTable:
                // The entries themselves, mostly: the rest of a table page is padding nobody reads.
                what = $"table: {RandomBytes(file, layout.TableStart, random.Next(4) == 0 ? (int)layout.TableBytes : layout.TableEntryBytes, random)}";
                break;
            case StateDamageKind.SwappedSlots:
                Swap(file, layout.Slot(page, 0), layout.Slot(page, 1));
                what = $"page {page}: slots exchanged";
                break;
            case StateDamageKind.Truncated:
                int length = random.Next((int)layout.Size);
                await File.WriteAllBytesAsync(path, file.AsMemory(0, length).ToArray(), ct);
                return $"cut to {length} of {layout.Size} bytes";
            case StateDamageKind.Extended:
                byte[] tail = new byte[random.Next(1, 8193)];
                random.NextBytes(tail);
                await File.WriteAllBytesAsync(path, file.Concat(tail).ToArray(), ct);
                return $"{tail.Length} random bytes appended";
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
        await File.WriteAllBytesAsync(path, file, ct);
        return what;
    }

    private static void Swap(byte[] file, long first, long second)
    {
        byte[] saved = file.AsSpan((int)first, StateFileLayout.PageBytes).ToArray();
        file.AsSpan((int)second, StateFileLayout.PageBytes).CopyTo(file.AsSpan((int)first));
        saved.CopyTo(file, second);
    }

    /// <summary>0xFF over the page's bitmap, or over a random run of it.</summary>
    private static string Ones(byte[] file, long start, int bitmapBytes, Random random)
    {
        int from = random.Next(2) == 0 ? 0 : random.Next(bitmapBytes);
        int count = from == 0 ? bitmapBytes : random.Next(1, bitmapBytes - from + 1);
        file.AsSpan((int)start + from, count).Fill(0xFF);
        return $"0xFF over bitmap bytes {from}..{from + count - 1}";
    }

    /// <summary>1-16 bytes changed (each to a different value) within <paramref name="length"/> bytes from <paramref name="start"/>.</summary>
    private static string RandomBytes(byte[] file, long start, int length, Random random)
    {
        int count = random.Next(1, 17);
        for (int i = 0; i < count; i++)
            file[start + random.Next(length)] ^= (byte)random.Next(1, 256);
        return $"{count} random bytes changed";
    }

    /// <summary>A run of whole sectors of a 4 KiB slot replaced with random bytes, as a write cut short leaves it.</summary>
    private static string RandomSectors(byte[] file, long start, Random random)
    {
        const int Sectors = StateFileLayout.PageBytes / Sector;
        int first = random.Next(Sectors);
        int count = random.Next(1, Sectors - first + 1);
        random.NextBytes(file.AsSpan((int)start + first * Sector, count * Sector));
        return $"sectors {first}..{first + count - 1} replaced";
    }
}
