using Bmcast.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images.Packs;

/// <summary>
/// Appends chunks to a new pack and publishes it. Until <see cref="Publish"/> the pack has no index and is not part
/// of the store (garbage collection deletes such a pack); <see cref="Publish"/> makes the pack's bytes durable, then
/// its index under a temporary name, then renames the index into place and makes the name durable. A power cut at
/// any step leaves either no index (the pack is garbage) or a complete index over durable bytes. Not thread-safe.
/// </summary>
internal sealed class PackWriter : IDisposable
{
    private readonly string _directory;
    private readonly SafeFileHandle _file;
    private readonly byte[] _padding = new byte[PackFormat.Alignment];
    private readonly Action<PackStep>? _stepReached;
    private bool _published;

    /// <param name="stepReached">For crash tests: called at each step of append and publication, on the writing thread.</param>
    public PackWriter(string directory, Action<PackStep>? stepReached = null)
    {
        _directory = directory;
        _stepReached = stepReached;
        Id = PackFormat.NewId();
        Path = PackFormat.PackPath(directory, Id);
        _file = File.OpenHandle(Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        Span<byte> header = stackalloc byte[PackFormat.HeaderSize];
        header.Clear();
        PackFormat.PackMagic.CopyTo(header);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header[8..], PackFormat.Version);
        RandomAccess.Write(_file, header, 0);
        Length = PackFormat.HeaderSize;
        _stepReached?.Invoke(PackStep.Created);
    }

    public string Id { get; }

    public string Path { get; }

    /// <summary>Bytes in the pack so far, header and padding included.</summary>
    public long Length { get; private set; }

    /// <summary>Append a chunk; returns its offset. The bytes are not durable until <see cref="Publish"/>.</summary>
    public long Append(ReadOnlySpan<byte> data)
    {
        long offset = Length;
        RandomAccess.Write(_file, data, offset);
        int pad = (int)(PackFormat.Aligned(data.Length) - data.Length);
        if (pad > 0)
            RandomAccess.Write(_file, _padding.AsSpan(0, pad), offset + data.Length);
        Length = offset + data.Length + pad;
        _stepReached?.Invoke(PackStep.Appended);
        return offset;
    }

    /// <summary>Make the pack part of the store holding exactly <paramref name="entries"/> (chunks appended but left
    /// out are dead space that garbage collection reclaims).</summary>
    public void Publish(IReadOnlyCollection<PackEntry> entries)
    {
        if (LibC.fsync(_file) != 0)
            throw LibC.Failure("fsync", Path);
        _stepReached?.Invoke(PackStep.PackDurable);
        string partial = System.IO.Path.Combine(_directory, PackFormat.Prefix + Id + PackFormat.PartialIndexSuffix);
        DurableFile.WriteNew(partial, PackIndex.Encode(entries, Length));
        // Both names (the pack's and the partial index's) durable before the index takes its final name.
        DirectorySync.Sync(_directory);
        _stepReached?.Invoke(PackStep.IndexDurable);
        if (!DurableFile.RenameNoReplace(partial, PackFormat.IndexPath(_directory, Id)))
            throw new IOException($"{PackFormat.IndexPath(_directory, Id)} exists already: pack ids must be unique");
        _published = true; // from here on the index names this file: never delete it
        _stepReached?.Invoke(PackStep.IndexRenamed);
        DirectorySync.Sync(_directory);
        _stepReached?.Invoke(PackStep.Published);
    }

    /// <summary>Close the pack; one never published is deleted.</summary>
    public void Dispose()
    {
        _file.Dispose();
        if (!_published)
        {
            File.Delete(Path);
            File.Delete(System.IO.Path.Combine(_directory, PackFormat.Prefix + Id + PackFormat.PartialIndexSuffix));
        }
    }
}
