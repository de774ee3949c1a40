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

    /// <summary>Connect to <paramref name="uri"/>; <paramref name="tls"/> is what an nbds URI trusts and presents (default: the system store).</summary>
    public static async Task<NbdImageSource> OpenAsync(NbdUri uri, NbdClientTls? tls = null, CancellationToken cancellationToken = default) =>
        new(await NbdClient.ConnectAsync(uri, tls, cancellationToken), uri.ToString());

    public long Size => _client.Size;

    public string Description { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        _client.ReadAsync(offset, buffer, cancellationToken);

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
