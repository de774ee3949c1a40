using System.Buffers;
using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// An AoE target as the streaming engine's source. The engine reads whole chunks, which are
/// sector-aligned; other ranges go through a bounce buffer. The size is the target's sector count
/// times 512, so an image whose size is not a multiple of 512 shows up zero-padded.
/// </summary>
public sealed class AoeImageSource(AoeInitiator initiator, string description) : IImageSource
{
    private const int Sector = AoeProtocol.SectorSize;

    /// <summary>
    /// Connect to the target at <paramref name="address"/>. A receive ring the kernel refuses is warned about on
    /// <paramref name="logger"/> (the stream's or deployment's log), and how frames arrive is logged there at debug level.
    /// </summary>
    public static async Task<AoeImageSource> OpenAsync(AoeAddress address, AoeInitiatorOptions? options = null, CancellationToken cancellationToken = default,
        ILogger? logger = null)
    {
        var channel = PacketSocketChannel.Open(address.Interface, logger);
        logger?.LogDebug("AoE initiator on {Interface}: receiving through {Path}", address.Interface, channel.ReceivePath);
        AoeInitiator initiator;
        try
        {
            initiator = await AoeInitiator.ConnectAsync(channel, address.Shelf, address.Slot, options, cancellationToken);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
        return new AoeImageSource(initiator, $"{address} ({initiator.Target})");
    }

    public AoeInitiator Initiator => initiator;

    public long Size => (long)initiator.Sectors * Sector;

    public string Description { get; } = description;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (offset < 0 || offset + buffer.Length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{buffer.Length} bytes at {offset} are beyond {Size}");
        if (offset % Sector == 0 && buffer.Length % Sector == 0)
        {
            await initiator.ReadSectorsAsync((ulong)(offset / Sector), buffer, cancellationToken);
            return;
        }
        long first = offset / Sector;
        int length = (int)(((offset + buffer.Length + Sector - 1) / Sector - first) * Sector);
        byte[] bounce = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await initiator.ReadSectorsAsync((ulong)first, bounce.AsMemory(0, length), cancellationToken);
            bounce.AsSpan((int)(offset - first * Sector), buffer.Length).CopyTo(buffer.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bounce);
        }
    }

    public ValueTask DisposeAsync() => initiator.DisposeAsync();
}
