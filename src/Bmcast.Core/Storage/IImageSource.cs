namespace Bmcast.Core.Storage;

/// <summary>
/// Where the streaming engine gets image bytes: a local file, an NBD client, an AoE initiator.
/// One method by design: the engine asks for whole chunks and verifies them itself, so a source
/// needs no knowledge of manifests, retries of corrupt data, or presence.
/// </summary>
public interface IImageSource : IAsyncDisposable
{
    /// <summary>Image size in bytes.</summary>
    long Size { get; }

    /// <summary>Human-readable identity for logs, e.g. <c>nbd+unix:///debian?socket=/run/x.sock</c>.</summary>
    string Description { get; }

    /// <summary>
    /// Fill <paramref name="buffer"/> with the image bytes at <paramref name="offset"/>. Throws
    /// <see cref="IOException"/> when the transfer fails; callers retry.
    /// </summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);
}
