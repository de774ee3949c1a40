using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Presence;
using Bmcast.Core.Storage;

namespace Bmcast.Engine;

/// <summary>
/// NBD <c>base:allocation</c> of the streaming disk, so a client (nbdcopy, <c>qemu-img convert</c>) skips what reads as
/// zero instead of reading it. A block not yet present reads as the image has it: a zero hole where the manifest marks
/// its chunk all zero, data otherwise. A present block is as the target describes it (a hole punched in the target
/// file reads as zeroes). Neighbouring extents with the same flags are merged.
/// </summary>
internal static class StreamingAllocation
{
    private const AllocationFlags ZeroHole = AllocationFlags.Hole | AllocationFlags.Zero;

    public static int Describe(DiskGeometry geometry, PresenceMap presence, Manifest? manifest, IBlockDevice target,
        long offset, long length, Span<AllocationExtent> extents)
    {
        long end = offset + length;
        int count = 0;
        while (offset < end && (count < extents.Length))
        {
            long block = geometry.BlockOf(offset);
            bool present = presence.IsPresent(block);
            long runBlocks = presence.RunLength(block, geometry.BlockOf(end - 1) - block + 1, present);
            long runEnd = Math.Min(end, geometry.BlockEnd(block + runBlocks - 1));
            long next = present
                ? DescribeTarget(target, offset, runEnd, extents, ref count)
                : DescribeAbsent(geometry, manifest, offset, runEnd, extents, ref count);
            if (next == offset)
                break; // No room left (or a target that described nothing): a shorter answer is allowed.
            offset = next;
        }
        return count;
    }

    /// <summary>Present blocks: the target's own description, up to the extents left.</summary>
    private static long DescribeTarget(IBlockDevice target, long offset, long end, Span<AllocationExtent> extents, ref int count)
    {
        Span<AllocationExtent> described = stackalloc AllocationExtent[Math.Min(64, extents.Length - count + 1)];
        int n = target.DescribeAllocation(offset, end - offset, described);
        for (int i = 0; i < n && (count < extents.Length || CanMerge(extents, count, described[i].Flags)); i++)
        {
            long length = Math.Min(described[i].Length, end - offset);
            if (length <= 0)
                break;
            Append(extents, ref count, length, described[i].Flags);
            offset += length;
        }
        return offset;
    }

    /// <summary>Absent blocks: runs of chunks the manifest marks all zero (zero holes) or not (data).</summary>
    private static long DescribeAbsent(DiskGeometry geometry, Manifest? manifest, long offset, long end, Span<AllocationExtent> extents, ref int count)
    {
        while (offset < end)
        {
            long chunk = geometry.ChunkOf(offset);
            bool zero = IsZero(manifest, chunk);
            long runEnd = geometry.ChunkStart(chunk + 1);
            while (runEnd < end && IsZero(manifest, geometry.ChunkOf(runEnd)) == zero)
                runEnd += geometry.ChunkSize;
            runEnd = Math.Min(runEnd, end);
            var flags = zero ? ZeroHole : AllocationFlags.Allocated;
            if (count == extents.Length && !CanMerge(extents, count, flags))
                break;
            Append(extents, ref count, runEnd - offset, flags);
            offset = runEnd;
        }
        return offset;
    }

    private static bool IsZero(Manifest? manifest, long chunk) => manifest is not null && manifest.IsZeroChunk(chunk);

    private static bool CanMerge(Span<AllocationExtent> extents, int count, AllocationFlags flags) =>
        count > 0 && extents[count - 1].Flags == flags;

    private static void Append(Span<AllocationExtent> extents, ref int count, long length, AllocationFlags flags)
    {
        if (CanMerge(extents, count, flags))
            extents[count - 1] = extents[count - 1] with { Length = extents[count - 1].Length + length };
        else
            extents[count++] = new AllocationExtent(length, flags);
    }
}
