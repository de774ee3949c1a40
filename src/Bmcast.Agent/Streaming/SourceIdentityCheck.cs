using Bmcast.Core.Manifests;
using Bmcast.Engine.Sources;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Streaming;

/// <summary>
/// Whether a source still serves the image the deployment started with (issue 15, defect 7: an image replaced behind
/// its name made the agent retry failing chunks for ever without saying why). On every reconnect the source's
/// published manifest root is compared with the deployment's; when it differs (or the manifest is gone or damaged) this
/// says so once (a warning and <see cref="Changed"/>) and from then on refuses the source at once, without connecting:
/// reads of missing blocks fail with <see cref="ImageSourceUnavailableException"/>, the background copy pauses, and the
/// state file is untouched, so the deployment resumes from another source with the right root or after the operator
/// acts. One check per source: an agent with several sources (issue 14) keeps one each.
/// </summary>
public sealed class SourceIdentityCheck(string source, ILogger logger)
{
    private string? _expectedRoot;
    private volatile string? _change;

    /// <summary>Raised once, when the source is found to serve another image: the message saying so.</summary>
    public event Action<SourceChange>? Changed;

    /// <summary>The root the source must keep serving: the manifest it published at the start.</summary>
    public void Expect(Manifest manifest) => _expectedRoot = manifest.RootHashHex;

    /// <summary>Refuses at once a source already found changed (nothing is fetched from it again).</summary>
    public void ThrowIfChanged()
    {
        if (_change is { } change)
            throw new ImageSourceUnavailableException(change, new InvalidDataException(change));
    }

    /// <summary>Compares the manifest <paramref name="fetchManifest"/> returns now with the expected one (nothing to compare before <see cref="Expect"/>).</summary>
    public async Task VerifyAsync(Func<CancellationToken, Task<byte[]?>> fetchManifest, CancellationToken ct)
    {
        ThrowIfChanged();
        if (_expectedRoot is not { } expected)
            return;
        string? served = ServedRoot(await fetchManifest(ct));
        if (served == expected)
            return;
        var change = new SourceChange(source, expected, served);
        lock (this)
        {
            if (_change is null)
            {
                _change = change.Message;
                logger.LogError("{Message}", change.Message);
                Changed?.Invoke(change);
            }
        }
        ThrowIfChanged();
    }

    private static string? ServedRoot(byte[]? manifest)
    {
        if (manifest is null)
            return null;
        try
        {
            return Manifest.Decode(manifest).RootHashHex;
        }
        catch (ManifestFormatException)
        {
            return null;
        }
    }
}

/// <summary>A source now serves another image than the deployment's (<paramref name="ServedRoot"/> null: no valid manifest).</summary>
public sealed record SourceChange(string Source, string ExpectedRoot, string? ServedRoot)
{
    public string Message =>
        $"source {Source} now serves a different image (manifest root {(ServedRoot is null ? "none" : ServedRoot[..16])}, " +
        $"the deployment's is {ExpectedRoot[..16]}): not fetching from it any more; the deployment stays resumable " +
        "from a source with the deployment's image";
}
