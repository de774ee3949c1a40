using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>
/// NBD <c>base:allocation</c> for a stored image: runs of zero chunks are holes that read as zeros, so clients such as
/// nbdcopy skip them; everything else is allocated.
/// </summary>
internal static class ZeroChunkExtents
{
    public static int Describe(Manifest manifest, long offset, long length, Span<AllocationExtent> extents)
    {
        long end = Math.Min(offset + length, manifest.ImageSize);
        int count = 0;
        while (offset < end && count < extents.Length)
        {
            long chunk = offset / manifest.ChunkSize;
            bool zero = manifest.IsZeroChunk(chunk);
            long runEnd = (chunk + 1) * manifest.ChunkSize;
            while (runEnd < end && manifest.IsZeroChunk(runEnd / manifest.ChunkSize) == zero)
                runEnd += manifest.ChunkSize;
            runEnd = Math.Min(runEnd, end);
            extents[count++] = new AllocationExtent(runEnd - offset,
                zero ? AllocationFlags.Hole | AllocationFlags.Zero : AllocationFlags.Allocated);
            offset = runEnd;
        }
        return count;
    }
}
