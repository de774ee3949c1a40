using System.Globalization;
using Bmcast.Images;

namespace Bmcast.Agent.Locking;

/// <summary>
/// Which processes hold a lock on a byte of a file. An OFD lock records no owner (<c>F_OFD_GETLK</c> and
/// <c>/proc/locks</c> say pid -1), but each process's <c>/proc/PID/fdinfo/FD</c> lists the locks of that open file as
/// <c>lock: N: OFDLCK ADVISORY WRITE -1 MAJ:MIN:INODE START END</c> (adjacent bytes merged into one range, END
/// inclusive or <c>EOF</c>), so the holders are found by device, inode and a range that covers the offset. Processes this one may not inspect are skipped: the answer may then be empty.
/// </summary>
internal static class LockHolders
{
    public static IReadOnlyList<int> Of(string path, long offset)
    {
        var file = SourceFileState.Of(path);
        string key = string.Create(CultureInfo.InvariantCulture, $"{file.Device >> 32:x2}:{file.Device & 0xffffffff:x2}:{file.Inode}");
        var holders = new SortedSet<int>();
        foreach (string process in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(process), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                continue;
            if (HoldsLock(Path.Combine(process, "fdinfo"), key, offset))
                holders.Add(pid);
        }
        return [.. holders];
    }

    private static bool HoldsLock(string fdinfo, string key, long offset)
    {
        try
        {
            foreach (string descriptor in Directory.EnumerateFiles(fdinfo))
                foreach (string line in File.ReadLines(descriptor))
                {
                    if (!line.StartsWith("lock:", StringComparison.Ordinal))
                        continue;
                    // Only OFD locks: .NET's FileShare flocks (whole file, FLOCK) are held by every reader of the file.
                    string[] fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    if (fields.Length >= 6 && fields[2] == "OFDLCK" && fields[^3] == key && Covers(fields[^2], fields[^1], offset))
                        return true;
                }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process ended, or is not ours to inspect.
        }
        return false;
    }

    private static bool Covers(string start, string end, long offset) =>
        long.TryParse(start, NumberStyles.None, CultureInfo.InvariantCulture, out long first) && first <= offset
        && (end == "EOF" || long.TryParse(end, NumberStyles.None, CultureInfo.InvariantCulture, out long last) && offset <= last);
}
