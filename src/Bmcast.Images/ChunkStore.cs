using Bmcast.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// Content-addressed chunk files, <c>chunks/ab/abcdef…</c> named by the SHA-256 of their bytes and
/// shared by every image that contains them. A chunk's name appears only after its bytes are
/// durable (<see cref="ChunkBatch"/>), so a name that exists always holds the right content (barring
/// later corruption, which <see cref="ImageVerifier"/> detects).
/// </summary>
public sealed class ChunkStore
{
    private readonly string _directory;
    private readonly string _temporaryDirectory;

    internal ChunkStore(string directory, string temporaryDirectory)
    {
        _directory = directory;
        _temporaryDirectory = temporaryDirectory;
    }

    public string PathOf(ReadOnlySpan<byte> hash)
    {
        string hex = Convert.ToHexStringLower(hash);
        return Path.Combine(_directory, hex[..2], hex);
    }

    /// <summary>Start adding chunks; see <see cref="ChunkBatch"/>.</summary>
    internal ChunkBatch BeginBatch(int maxPendingChunks) => new(this, _temporaryDirectory, maxPendingChunks);

    /// <summary>Make every chunk name created so far durable: one fsync per prefix directory.</summary>
    internal void SyncDirectories()
    {
        foreach (string prefix in Directory.EnumerateDirectories(_directory))
            DirectorySync.Sync(prefix);
        DirectorySync.Sync(_directory);
    }

    /// <summary>Open a chunk for reading, or null when it is missing.</summary>
    public SafeFileHandle? TryOpen(ReadOnlySpan<byte> hash)
    {
        try
        {
            return File.OpenHandle(PathOf(hash), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Every stored chunk as (hash in hex, path).</summary>
    public IEnumerable<(string Hash, string Path)> Enumerate()
    {
        foreach (string prefix in Directory.EnumerateDirectories(_directory))
            foreach (string path in Directory.EnumerateFiles(prefix))
                yield return (System.IO.Path.GetFileName(path), path);
    }
}
