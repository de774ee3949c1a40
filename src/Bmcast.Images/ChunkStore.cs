using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// Content-addressed chunk files, <c>chunks/ab/abcdef…</c> named by the SHA-256 of their bytes and
/// shared by every image that contains them. A chunk's name appears only after its bytes are
/// durable, so a name that exists always holds the right content (barring later corruption, which
/// <see cref="ImageVerifier"/> detects).
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

    /// <summary>
    /// Store a chunk unless one with the same hash exists. Returns true when bytes were written. The
    /// new entry's directory is only made durable by <see cref="SyncDirectories"/>, which a caller
    /// runs once per import instead of once per chunk.
    /// </summary>
    public bool Add(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> data)
    {
        string path = PathOf(hash);
        if (File.Exists(path))
            return false;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = Path.Combine(_temporaryDirectory, "chunk-" + Guid.NewGuid().ToString("N"));
        try
        {
            DurableFile.WriteNew(temporary, data);
            // No overwrite: when two workers race to add the same chunk, exactly one counts it as new.
            File.Move(temporary, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
            return false;
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Make every chunk name created so far durable: one fsync per prefix directory.</summary>
    public void SyncDirectories()
    {
        foreach (string prefix in Directory.EnumerateDirectories(_directory))
            DurableFile.SyncDirectory(prefix);
        DurableFile.SyncDirectory(_directory);
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
