using Bmcast.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images.Packs;

/// <summary>
/// The store's old layout: one file per chunk, <c>chunks/ab/abcdef…</c>, named by its SHA-256. Stores written
/// before packs still hold it; they are read as they are (slowly: an open per read) until the first write to the
/// store moves every chunk file into packs (<see cref="LayoutMigration"/>).
/// </summary>
internal sealed class LooseChunks(string directory)
{
    public string Directory { get; } = directory;

    public bool Exist => System.IO.Directory.Exists(Directory);

    public string PathOf(ChunkKey key)
    {
        string hex = key.ToString();
        return Path.Combine(Directory, hex[..2], hex);
    }

    /// <summary>Open a chunk file, or null when there is none.</summary>
    public SafeFileHandle? TryOpen(ChunkKey key)
    {
        try
        {
            return File.OpenHandle(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Every chunk file whose name is a chunk hash.</summary>
    public IEnumerable<(ChunkKey Key, string Path)> Enumerate()
    {
        if (!Exist)
            yield break;
        foreach (string prefix in System.IO.Directory.EnumerateDirectories(Directory))
            foreach (string path in System.IO.Directory.EnumerateFiles(prefix))
                if (ChunkKey.TryParseHex(Path.GetFileName(path), out var key))
                    yield return (key, path);
    }

    /// <summary>Delete the whole old layout (every chunk is in a pack by then) and make that durable.</summary>
    public void Remove()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        DirectorySync.Sync(Path.GetDirectoryName(Directory)!);
    }
}
