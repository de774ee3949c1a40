using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// An image in a bucket as a read-only block device: zero chunks read as zeros without a request, the others through
/// the server's <see cref="ObjectChunkReader"/> (cache, else one ranged GET, verified before use).
/// </summary>
internal sealed class ObjectImageDevice(Manifest manifest, ObjectChunkReader chunks) : ReadOnlyImageDevice(manifest)
{
    public override async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int chunkSize = Manifest.ChunkSize;
        while (!buffer.IsEmpty)
        {
            long chunk = offset / chunkSize;
            int inChunk = (int)(offset - chunk * chunkSize);
            int length = Math.Min(buffer.Length, Manifest.ChunkLength(chunk) - inChunk);
            var part = buffer[..length];
            if (Manifest.IsZeroChunk(chunk))
                part.Span.Clear();
            else
                await chunks.ReadAsync(Manifest, chunk, inChunk, part);
            offset += length;
            buffer = buffer[length..];
        }
    }
}
