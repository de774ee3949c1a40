using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images.Packs;

/// <summary>
/// A published pack, open for reading for as long as the store uses it: reads are a <c>pread</c> on the handle
/// opened once, with no path building or open per read. The handle also keeps the bytes readable after garbage
/// collection has replaced and deleted the pack, until the store lets go of it (<see cref="ChunkStore.Refresh"/>).
/// </summary>
public sealed class PackFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private PackFile(string id, string path, PackIndex index, SafeFileHandle handle)
    {
        Id = id;
        Path = path;
        Index = index;
        _handle = handle;
    }

    public string Id { get; }

    public string Path { get; }

    public PackIndex Index { get; }

    /// <summary>The open pack, for a sender that hands its bytes to the kernel (closed once the store lets go of the pack).</summary>
    internal SafeFileHandle Handle => _handle;

    /// <summary>
    /// Open pack <paramref name="id"/> of <paramref name="directory"/> and check it against its index: null when
    /// either file is gone (garbage collection removed it meanwhile); <see cref="PackFormatException"/> when damaged.
    /// </summary>
    public static PackFile? TryOpen(string directory, string id)
    {
        byte[] indexBytes;
        try
        {
            indexBytes = File.ReadAllBytes(PackFormat.IndexPath(directory, id));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        var index = DecodeIndex(directory, id, indexBytes);
        string path = PackFormat.PackPath(directory, id);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException)
        {
            if (File.Exists(PackFormat.IndexPath(directory, id)))
                throw new PackFormatException($"{path} is missing but its index is not");
            return null;
        }
        try
        {
            CheckHeader(handle, path, index);
            return new PackFile(id, path, index, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static PackIndex DecodeIndex(string directory, string id, byte[] bytes)
    {
        try
        {
            return PackIndex.Decode(bytes);
        }
        catch (PackFormatException e)
        {
            throw new PackFormatException($"{PackFormat.IndexPath(directory, id)}: {e.Message}");
        }
    }

    private static void CheckHeader(SafeFileHandle handle, string path, PackIndex index)
    {
        long length = RandomAccess.GetLength(handle);
        if (length < index.PackLength)
            throw new PackFormatException($"{path} is {length} bytes, shorter than the {index.PackLength} its index records (cut short)");
        Span<byte> magic = stackalloc byte[PackFormat.PackMagic.Length];
        if (RandomAccess.Read(handle, magic, 0) != magic.Length || !magic.SequenceEqual(PackFormat.PackMagic))
            throw new PackFormatException($"{path} has no BMCPACK1 magic");
    }

    /// <summary>
    /// Fill <paramref name="destination"/> from <paramref name="offset"/>; false when the file ends first (it was cut
    /// short after it was opened). Throws <see cref="ObjectDisposedException"/> once the store has let go of the pack.
    /// </summary>
    public bool TryRead(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n == 0)
                return false;
            destination = destination[n..];
            offset += n;
        }
        return true;
    }

    public void Dispose() => _handle.Dispose();
}
