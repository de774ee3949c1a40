using System.Globalization;
using System.Text;

namespace Bmcast.Engine.Tracing;

/// <summary>What a traced guest request did.</summary>
public enum IoKind : byte
{
    Read = (byte)'R',
    Write = (byte)'W',
    WriteZeroes = (byte)'Z',
    Flush = (byte)'F',
}

/// <summary>One guest request: when it started and ended (microseconds since the deployment started) and what it touched.</summary>
public readonly record struct IoRecord(long StartMicros, long EndMicros, IoKind Kind, long Offset, long Length);

/// <summary>
/// A boot trace: every request a guest made of its disk until it was ready, with the time it was ready, so a boot can
/// be replayed with its think times without the guest (<see cref="IoTraceReplay"/>). Recorded by <c>bmcast deploy</c>
/// as <c>TARGET.boot-trace</c>. On disk, text, one request a line in start order:
/// <code>
/// # bmcast boot trace v1
/// START_US DURATION_US KIND OFFSET LENGTH     KIND: R read, W write (FUA folded into its duration), Z write zeroes, F flush (0 0)
/// ...
/// ready READY_US
/// </code>
/// Parsed strictly: anything else, a range past the disk, a read or write longer than <see cref="MaxTransferLength"/>, starts out of order or a request ending after ready is an error
/// naming the line.
/// </summary>
public sealed class IoTrace(IReadOnlyList<IoRecord> records, long readyMicros)
{
    private const string Header = "# bmcast boot trace v1";
    private const string ReadyKeyword = "ready";

    /// <summary>The longest read or write a trace may hold (NBD clients send at most 32 MiB).</summary>
    public const long MaxTransferLength = 64 << 20;

    public IReadOnlyList<IoRecord> Records { get; } = records;

    /// <summary>When the guest reported ready, microseconds since the deployment started.</summary>
    public long ReadyMicros { get; } = readyMicros;

    public long BytesRead => Records.Where(r => r.Kind == IoKind.Read).Sum(r => r.Length);

    public long BytesWritten => Records.Where(r => r.Kind is IoKind.Write or IoKind.WriteZeroes).Sum(r => r.Length);

    public string Format()
    {
        var text = new StringBuilder(Header).Append('\n');
        foreach (var r in Records)
            text.Append(CultureInfo.InvariantCulture, $"{r.StartMicros} {r.EndMicros - r.StartMicros} {(char)r.Kind} {r.Offset} {r.Length}\n");
        return text.Append(CultureInfo.InvariantCulture, $"{ReadyKeyword} {ReadyMicros}\n").ToString();
    }

    public void Write(string path) => File.WriteAllText(path, Format());

    /// <summary>Parse a trace of a disk of <paramref name="diskSize"/> bytes; <see cref="InvalidDataException"/> names the first bad line.</summary>
    public static IoTrace Parse(string text, long diskSize)
    {
        string[] lines = text.Split('\n');
        int count = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        if (count == 0 || lines[0] != Header)
            throw new InvalidDataException($"not a bmcast boot trace: the first line must be '{Header}'");
        if (count < 2)
            throw new InvalidDataException("boot trace ends before its 'ready' line");
        var records = new List<IoRecord>(count - 2);
        long lastStart = 0;
        for (int i = 1; i < count - 1; i++)
        {
            var record = ParseRecord(lines[i], diskSize) ?? throw Bad(i, lines[i], "expected 'START_US DURATION_US R|W|Z|F OFFSET LENGTH' within the disk");
            if (record.StartMicros < lastStart)
                throw Bad(i, lines[i], "requests must be in start order");
            lastStart = record.StartMicros;
            records.Add(record);
        }
        string last = lines[count - 1];
        string[] ready = last.Split(' ');
        if (ready.Length != 2 || ready[0] != ReadyKeyword || !TryParseCount(ready[1], out long readyMicros))
            throw Bad(count - 1, last, $"expected the last line '{ReadyKeyword} READY_US'");
        if (records.Count > 0 && records.Max(r => r.EndMicros) > readyMicros)
            throw Bad(count - 1, last, "a request ends after ready");
        return new IoTrace(records, readyMicros);
    }

    private static IoRecord? ParseRecord(string line, long diskSize)
    {
        string[] fields = line.Split(' ');
        if (fields.Length != 5 || fields[2].Length != 1 || !Enum.IsDefined((IoKind)fields[2][0])
            || !TryParseCount(fields[0], out long start) || !TryParseCount(fields[1], out long duration)
            || !TryParseCount(fields[3], out long offset) || !TryParseCount(fields[4], out long length))
            return null;
        var kind = (IoKind)fields[2][0];
        bool valid = kind == IoKind.Flush
            ? offset == 0 && length == 0
            : length > 0 && offset <= diskSize && length <= diskSize - offset && (kind == IoKind.WriteZeroes || length <= MaxTransferLength);
        return valid && duration <= long.MaxValue - start ? new IoRecord(start, start + duration, kind, offset, length) : null;
    }

    private static bool TryParseCount(string text, out long value) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static InvalidDataException Bad(int index, string line, string why) =>
        new($"boot trace line {index + 1} '{(line.Length > 80 ? line[..80] + "..." : line)}': {why}");
}
