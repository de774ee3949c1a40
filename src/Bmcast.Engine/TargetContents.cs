namespace Bmcast.Engine;

/// <summary>
/// Whether a target that has no state file holds data that streaming would overwrite: any non-zero byte in its first
/// 64 MiB or its last 1 MiB, where partition tables (both GPT copies), boot loaders and file system superblocks live.
/// Bounded, so a large zeroed disk is not read whole; a target left by a start that died before its state file was
/// written is all holes and reads as empty. Works the same on files and block devices.
/// </summary>
internal static class TargetContents
{
    private const long HeadBytes = 64L << 20;
    private const long TailBytes = 1L << 20;
    private const int BufferBytes = 1 << 20;

    public static bool HoldsData(string path)
    {
        if (!File.Exists(path))
            return false;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long length = RandomAccess.GetLength(handle);
        var buffer = new byte[BufferBytes];
        return AnyNonZero(handle, 0, Math.Min(length, HeadBytes), buffer)
            || AnyNonZero(handle, Math.Max(Math.Min(length, HeadBytes), length - TailBytes), length, buffer);
    }

    private static bool AnyNonZero(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long start, long end, byte[] buffer)
    {
        for (long at = start; at < end;)
        {
            int read = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - at)), at);
            if (read == 0)
                return false;
            if (buffer.AsSpan(0, read).ContainsAnyExcept((byte)0))
                return true;
            at += read;
        }
        return false;
    }
}
