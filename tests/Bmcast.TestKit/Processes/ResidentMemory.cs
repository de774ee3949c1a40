namespace Bmcast.TestKit.Processes;

/// <summary>What a process holds in RAM now (VmRSS from <c>/proc/PID/status</c>): the figure an out-of-memory killer judges.</summary>
public static class ResidentMemory
{
    public static long BytesOf(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
