using Bmcast.Core.Manifests;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine.Verification;

/// <summary>
/// Decides whether a manifest's signing key is trusted, SSH-style: a key given by the operator
/// (<c>--trust-key FINGERPRINT</c>) must match; otherwise the first key seen from an image server is
/// pinned in a known-keys file and any later, different key from that server is refused.
/// </summary>
public sealed class ManifestTrust(string knownKeysPath, ILogger logger)
{
    /// <summary>The default pin file: <c>$XDG_CONFIG_HOME/bmcast/known_keys</c>.</summary>
    public static string DefaultKnownKeysPath()
    {
        string? config = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        if (string.IsNullOrEmpty(config))
            config = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return Path.Combine(config, "bmcast", "known_keys");
    }

    /// <summary>Throws <see cref="ManifestTrustException"/> unless the manifest is validly signed by a trusted key.</summary>
    public void Check(Manifest manifest, string serverAuthority, string? requiredFingerprint)
    {
        if (!manifest.HasValidSignature())
            throw new ManifestTrustException($"manifest from {serverAuthority} has an invalid signature: refusing to stream");
        string fingerprint = manifest.KeyFingerprint;
        if (requiredFingerprint is not null)
        {
            if (!string.Equals(requiredFingerprint, fingerprint, StringComparison.OrdinalIgnoreCase))
                throw new ManifestTrustException($"manifest from {serverAuthority} is signed by key {fingerprint}, not the required {requiredFingerprint}");
            return;
        }
        var pinned = ReadPins();
        if (pinned.TryGetValue(serverAuthority, out string? known))
        {
            if (!string.Equals(known, fingerprint, StringComparison.OrdinalIgnoreCase))
                throw new ManifestTrustException(
                    $"image server {serverAuthority} now signs with key {fingerprint} but {known} is pinned in {knownKeysPath}; " +
                    "if the server's key really changed, remove that line");
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(knownKeysPath)!);
        File.AppendAllText(knownKeysPath, $"{serverAuthority} {fingerprint}\n");
        logger.LogWarning("trusting image server {Server} on first use: pinned key {Fingerprint} in {File}", serverAuthority, fingerprint, knownKeysPath);
    }

    /// <summary>True when a key is pinned for this image server (it has served signed manifests before).</summary>
    public bool IsPinned(string serverAuthority) => ReadPins().ContainsKey(serverAuthority);

    private Dictionary<string, string> ReadPins()
    {
        var pins = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(knownKeysPath))
            return pins;
        foreach (string line in File.ReadLines(knownKeysPath))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 2 && !fields[0].StartsWith('#'))
                pins[fields[0]] = fields[1];
        }
        return pins;
    }
}

/// <summary>A manifest may not be used: bad signature or untrusted key.</summary>
public sealed class ManifestTrustException(string message) : Exception(message);
