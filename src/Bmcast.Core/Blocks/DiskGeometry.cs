using System.Numerics;

namespace Bmcast.Core.Blocks;

/// <summary>
/// How a disk of <see cref="Size"/> bytes divides into blocks (the unit of presence tracking) and
/// chunks (the unit of transfer and verification). Both are powers of two and a chunk is a whole
/// number of blocks; the last block and chunk may be short when the size is not a multiple.
/// </summary>
public readonly record struct DiskGeometry
{
    public const int DefaultBlockSize = 4096;
    public const int DefaultChunkSize = 64 * 1024;

    public DiskGeometry(long size, int blockSize = DefaultBlockSize, int chunkSize = DefaultChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (!BitOperations.IsPow2(blockSize) || !BitOperations.IsPow2(chunkSize) || chunkSize < blockSize)
            throw new ArgumentException($"block size {blockSize} and chunk size {chunkSize} must be powers of two with chunk >= block");
        Size = size;
        BlockSize = blockSize;
        ChunkSize = chunkSize;
    }

    public long Size { get; }
    public int BlockSize { get; }
    public int ChunkSize { get; }

    public int BlocksPerChunk => ChunkSize / BlockSize;
    public long BlockCount => (Size + BlockSize - 1) / BlockSize;
    public long ChunkCount => (Size + ChunkSize - 1) / ChunkSize;

    public long ChunkOf(long offset) => offset / ChunkSize;
    public long BlockOf(long offset) => offset / BlockSize;
    public long ChunkStart(long chunk) => chunk * ChunkSize;
    public int ChunkLength(long chunk) => (int)Math.Min(ChunkSize, Size - chunk * ChunkSize);
    public long FirstBlockOfChunk(long chunk) => chunk * BlocksPerChunk;
    public int BlockCountOfChunk(long chunk) => (int)((ChunkLength(chunk) + BlockSize - 1) / BlockSize);

    /// <summary>End of block <paramref name="block"/> in bytes, clipped to the disk size.</summary>
    public long BlockEnd(long block) => Math.Min((block + 1) * BlockSize, Size);
}
