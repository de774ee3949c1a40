using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>An image served over NBD as the streaming engine's source.</summary>
public sealed class NbdImageSource : IImageSource
{
    private readonly NbdClient _client;

    /// <summary>Wrap a connected client; the source owns and disposes it.</summary>
    public NbdImageSource(NbdClient client, string description)
    {
        _client = client;
        Description = description;
    }

    public static async Task<NbdImageSource> OpenAsync(NbdUri uri, CancellationToken cancellationToken = default) =>
        new(await NbdClient.ConnectAsync(uri, cancellationToken), uri.ToString());

    public long Size => _client.Size;

    public string Description { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        _client.ReadAsync(offset, buffer, cancellationToken);

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
