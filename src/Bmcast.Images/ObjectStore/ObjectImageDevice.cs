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
        foreach (var part in PartsOf(offset, buffer.Length))
        {
            var destination = buffer.Slice(part.At, part.Length);
            if (part.IsZero)
                destination.Span.Clear();
            else
                await chunks.ReadAsync(Manifest, part.Chunk, part.InChunk, destination);
        }
    }
}
