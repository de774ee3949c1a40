using System.Globalization;
using Bmcast.Core.Blocks;
using Bmcast.Engine.Tracing;

namespace Bmcast.Engine;

/// <summary>
/// The order in which a boot first read chunks: kept with the image and given to the background copier of later
/// deployments, which fetches those chunks first so the next boot finds them local. Taken from the boot's trace up to
/// ready (<see cref="OfReads"/>: every chunk it read, whether the copy had brought it in already or not); without a
/// trace, the streaming disk's record of the chunks the boot waited for (<see cref="Record"/>), which misses those
/// the copier happened to fetch first.
/// On disk: a first line <c># bmcast boot profile v1</c>, then one chunk index per line, in
/// first-touch order.
/// </summary>
public sealed class BootProfile
{
    private const string Header = "# bmcast boot profile v1";

    /// <summary>The first bytes of every profile file, so a profile can be told from other data.</summary>
    public static ReadOnlySpan<byte> Magic => "# bmcast boot profile v1"u8;

    private readonly List<long> _order = [];
    private readonly HashSet<long> _seen = [];

    public void Record(long chunk)
    {
        lock (_order)
            if (_seen.Add(chunk))
                _order.Add(chunk);
    }

    public IReadOnlyList<long> Snapshot()
    {
        lock (_order)
            return [.. _order];
    }

    /// <summary>
    /// The chunks <paramref name="trace"/>'s reads touch, in the order of their first read, but for those
    /// <paramref name="costsNothing"/> says need no fetch (chunks the manifest knows to be all zero).
    /// </summary>
    public static IReadOnlyList<long> OfReads(IoTrace trace, DiskGeometry geometry, Func<long, bool> costsNothing)
    {
        var profile = new BootProfile();
        foreach (var read in trace.Records)
        {
            if (read.Kind != IoKind.Read || read.Length == 0)
                continue;
            for (long chunk = geometry.ChunkOf(read.Offset); chunk <= geometry.ChunkOf(read.Offset + read.Length - 1); chunk++)
                if (!costsNothing(chunk))
                    profile.Record(chunk);
        }
        return profile.Snapshot();
    }

    public static void Write(string path, IReadOnlyList<long> chunks) => File.WriteAllText(path, Format(chunks));

    /// <summary>The profile's text, as <see cref="Write"/> stores it and <see cref="Parse"/> reads it.</summary>
    public static string Format(IReadOnlyList<long> chunks) =>
        string.Join('\n', chunks.Select(c => c.ToString(CultureInfo.InvariantCulture)).Prepend(Header)) + "\n";

    /// <summary>Parse a profile, refusing anything but chunk indexes below <paramref name="chunkCount"/>.</summary>
    public static IReadOnlyList<long> Parse(string text, long chunkCount)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length == 0 || lines[0] != Header)
            throw new InvalidDataException($"not a bmcast boot profile: the first line must be '{Header}'");
        var chunks = new List<long>();
        foreach (string line in lines.Skip(1))
        {
            if (!long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out long chunk) || chunk >= chunkCount)
                throw new InvalidDataException($"boot profile line '{line}' is not a chunk index below {chunkCount}");
            chunks.Add(chunk);
        }
        return chunks;
    }
}
