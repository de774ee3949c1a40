using System.Globalization;
using System.Text;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Images;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Serving;

/// <summary>
/// <c>learn-profile:NAME</c>: the agent writes its boot profile's text from offset 0 and sends FLUSH; the flush checks
/// the bytes written (up to the furthest write) with <see cref="BootProfile.Parse"/> against the image's manifest and
/// keeps them with the image unless it has a profile by then (<see cref="IImageStore.TryWriteBootProfileOnce"/>: the
/// first stays; a later offer is logged and ignored). A profile that does not parse, or names no chunk, fails the
/// flush with EINVAL and is not kept. The device is as large as the longest valid profile of the image, at most
/// <see cref="MaxBytes"/>; it holds only what was written.
/// </summary>
public sealed class ProfileOfferDevice(string image, IImageStore store, long chunkCount, ILogger logger) : IBlockDevice
{
    /// <summary>The most a connection may write: a boot's profile is a few thousand lines; this bounds a hostile client.</summary>
    public const long MaxBytes = 1 << 20;

    private readonly Lock _lock = new();
    private byte[] _content = [];
    private int _length;

    public long Size { get; } = Math.Min(MaxBytes, BootProfile.Magic.Length + 1 + chunkCount * (DigitsOf(chunkCount) + 1));

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        lock (_lock)
        {
            buffer.Span.Clear();
            if (offset < _length)
                _content.AsSpan((int)offset, (int)Math.Min(buffer.Length, _length - offset)).CopyTo(buffer.Span);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
    {
        lock (_lock)
        {
            int end = (int)(offset + data.Length);
            if (end > _content.Length)
                Array.Resize(ref _content, (int)Math.Min(Size, Math.Max(end, 2L * _content.Length)));
            data.Span.CopyTo(_content.AsSpan((int)offset));
            _length = Math.Max(_length, end);
        }
        return forceUnitAccess ? FlushAsync(ct) : ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        byte[] offered;
        lock (_lock)
            offered = _content.AsSpan(0, _length).ToArray();
        IReadOnlyList<long> chunks;
        try
        {
            chunks = BootProfile.Parse(Encoding.UTF8.GetString(offered), chunkCount);
            if (chunks.Count == 0)
                throw new InvalidDataException("it names no chunk");
        }
        catch (InvalidDataException e)
        {
            logger.LogWarning("a boot profile offered for {Image} is refused: {Error}", image, e.Message);
            return ValueTask.FromException(new BlockDeviceException(BlockDeviceException.EINVAL, $"boot profile refused: {e.Message}"));
        }
        if (store.TryWriteBootProfileOnce(image, offered))
            logger.LogInformation("learned the boot profile of {Image} from a deployment: {Count} chunks", image, chunks.Count);
        else
            logger.LogInformation("a boot profile offered for {Image} is not taken: it has one", image);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) =>
        ValueTask.FromException(new BlockDeviceException(BlockDeviceException.EINVAL, "write zeroes is not supported here"));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static int DigitsOf(long count) => Math.Max(1, (count - 1).ToString(CultureInfo.InvariantCulture).Length);
}
