using Bmcast.Core.Manifests;

namespace Bmcast.Images;

/// <summary>
/// A read of an image cut at chunk boundaries, first to last: <c>foreach (var part in new ChunkParts(manifest, offset,
/// length))</c>. A plain struct (not a ref struct), so an async reader can keep it across awaits; allocates nothing.
/// </summary>
internal struct ChunkParts(Manifest manifest, long offset, int length)
{
    private long _offset = offset;
    private int _at;

    public ChunkPart Current { get; private set; }

    public readonly ChunkParts GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_at >= length)
            return false;
        long chunk = _offset / manifest.ChunkSize;
        int inChunk = (int)(_offset - chunk * manifest.ChunkSize);
        int part = Math.Min(length - _at, manifest.ChunkLength(chunk) - inChunk);
        Current = new ChunkPart(chunk, inChunk, _at, part, manifest.IsZeroChunk(chunk));
        _offset += part;
        _at += part;
        return true;
    }
}
