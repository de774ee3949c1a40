using System.Text;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// Follows a growing JSON-lines file: each call returns the complete lines appended since the last one (a line still
/// being written waits for its newline).
/// </summary>
public sealed class EventLogReader(string path)
{
    private long _offset;

    public List<string> ReadNew()
    {
        if (!File.Exists(path))
            return [];
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (file.Length <= _offset)
            return [];
        file.Seek(_offset, SeekOrigin.Begin);
        var buffer = new byte[file.Length - _offset];
        file.ReadExactly(buffer);
        int end = Array.LastIndexOf(buffer, (byte)'\n');
        if (end < 0)
            return [];
        _offset += end + 1;
        return [.. Encoding.UTF8.GetString(buffer, 0, end).Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }
}
