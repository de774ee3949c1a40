using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// The last few aligned blocks read from a read-only device. An AoE frame carries 1 to 8.5 KiB, and
/// the store's device opens a chunk file per read, so without this a 64 KiB chunk costs 64 opens at
/// MTU 1500. Safe only because exports are read-only: a cached block never goes stale.
/// </summary>
internal sealed class BlockReadCache(IBlockDevice device, int blockSize = BlockReadCache.DefaultBlockSize, int entries = BlockReadCache.DefaultEntries)
{
    public const int DefaultBlockSize = 64 * 1024;
    public const int DefaultEntries = 32;

    private readonly Lock _lock = new();
    private readonly long[] _blocks = CreateEmpty(entries);
    private readonly byte[]?[] _data = new byte[]?[entries];
    private int _next;

    /// <summary>Read <paramref name="buffer"/> at <paramref name="offset"/>; the range must lie inside the device.</summary>
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            long block = offset / blockSize;
            int inBlock = (int)(offset - block * blockSize);
            int length = Math.Min(buffer.Length, blockSize - inBlock);
            if (!TryCopy(block, inBlock, buffer.Span[..length]))
            {
                byte[] data = await FillAsync(block, cancellationToken);
                data.AsSpan(inBlock, length).CopyTo(buffer.Span);
            }
            offset += length;
            buffer = buffer[length..];
        }
    }

    private bool TryCopy(long block, int inBlock, Span<byte> destination)
    {
        lock (_lock)
        {
            int index = Array.IndexOf(_blocks, block);
            if (index < 0)
                return false;
            _data[index]!.AsSpan(inBlock, destination.Length).CopyTo(destination);
            return true;
        }
    }

    private async ValueTask<byte[]> FillAsync(long block, CancellationToken cancellationToken)
    {
        int victim;
        byte[]? data;
        lock (_lock)
        {
            // Take the victim out of the table while it is refilled, so no reader copies half-written bytes.
            victim = _next;
            _next = (_next + 1) % _blocks.Length;
            _blocks[victim] = -1;
            data = _data[victim];
            _data[victim] = null;
        }
        data ??= new byte[blockSize];
        long start = block * blockSize;
        int length = (int)Math.Min(blockSize, device.Size - start);
        await device.ReadAsync(start, data.AsMemory(0, length), cancellationToken);
        lock (_lock)
        {
            if (_data[victim] is null)
            {
                _data[victim] = data;
                _blocks[victim] = block;
            }
        }
        return data;
    }

    private static long[] CreateEmpty(int entries)
    {
        var blocks = new long[entries];
        Array.Fill(blocks, -1);
        return blocks;
    }
}
