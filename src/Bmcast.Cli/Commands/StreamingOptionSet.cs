using System.CommandLine;
using Bmcast.Agent.Streaming;
using Bmcast.Engine;
using Bmcast.Engine.Verification;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Cli.Commands;

/// <summary>The options <c>bmcast stream</c> and <c>bmcast deploy</c> share: what to stream, where, how verified, how fast.</summary>
internal sealed class StreamingOptionSet
{
    public Option<string[]> Source { get; } = new("--source")
    {
        Description = "Image to stream: nbd://HOST[:PORT]/NAME, nbd+unix:///NAME?socket=PATH (nbds://, nbds+unix:// for TLS), aoe:IFACE/eSHELF.SLOT[?manifest-shelf=M&profile-shelf=P] or file:///PATH. " +
            "Repeat it for several NBD servers of the same image: fetches are spread over them and a failing one is dropped and retried later",
        HelpName = "URI",
        Required = true,
    };
    public Option<string> Target { get; } = new("--target") { Description = "Local target file (created sparse when missing)", HelpName = "PATH", Required = true };
    public Option<string?> State { get; } = new("--state") { Description = "Presence map file (default: TARGET.bmcast-state)", HelpName = "PATH" };
    public Option<string?> Manifest { get; } = new("--manifest") { Description = "Verify against this manifest file (for sources without one)", HelpName = "PATH" };
    public Option<string?> TrustKey { get; } = new("--trust-key") { Description = "Require manifests signed by this key (SHA-256 fingerprint, hex)", HelpName = "FINGERPRINT" };
    public Option<string?> KnownKeys { get; } = new("--known-keys") { Description = "Pinned image-server keys (default: $XDG_CONFIG_HOME/bmcast/known_keys)", HelpName = "PATH" };
    public Option<string?> Bandwidth { get; } = new("--bandwidth") { Description = "Cap background copying, bytes per second (e.g. 50M); default: no cap", HelpName = "RATE" };
    public Option<int> IdleGap { get; } = new("--idle-gap-ms") { Description = "Background copy waits until the guest has been idle this long", DefaultValueFactory = _ => 20 };
    public Option<int> OutageSeconds { get; } = new("--server-outage-limit") { Description = "Seconds reads wait for a lost image server to return before failing", DefaultValueFactory = _ => 60 };
    public Option<string?> BootProfile { get; } = new("--boot-profile") { Description = "Prefetch these chunks first (default: the profile the image server publishes, if any)", HelpName = "FILE" };
    public Option<string?> TlsCa { get; } = new("--tls-ca") { Description = "For nbds sources: trust server certificates issued by this CA (PEM) instead of the system store", HelpName = "FILE" };
    public Option<string?> TlsCert { get; } = new("--tls-cert") { Description = "For nbds sources: present this client certificate (PEM; with --tls-key)", HelpName = "FILE" };
    public Option<string?> TlsKey { get; } = new("--tls-key") { Description = "The client certificate's private key (PEM)", HelpName = "FILE" };
    public Option<bool> Json { get; } = new("--json") { Description = "Print one JSON event per line on stdout" };
    public Option<bool> Force { get; } = new("--force") { Description = "Overwrite a target that holds data but has no state file" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Source, Target, State, Manifest, TrustKey, KnownKeys, Bandwidth, IdleGap, OutageSeconds, BootProfile, TlsCa, TlsCert, TlsKey, Json, Force })
            command.Options.Add(option);
    }

    public StreamRequest ToRequest(ParseResult parseResult, NbdEndpoint export)
    {
        string target = Path.GetFullPath(parseResult.GetValue(Target)!);
        return new StreamRequest(
            parseResult.GetValue(Source)!,
            target,
            parseResult.GetValue(State) ?? target + ".bmcast-state",
            export,
            parseResult.GetValue(Manifest),
            parseResult.GetValue(TrustKey),
            parseResult.GetValue(KnownKeys) ?? ManifestTrust.DefaultKnownKeysPath(),
            new StreamingOptions
            {
                IdleGap = TimeSpan.FromMilliseconds(parseResult.GetValue(IdleGap)),
                BackgroundBytesPerSecond = ParseRate(parseResult.GetValue(Bandwidth)),
                OverwriteTarget = parseResult.GetValue(Force),
            })
        {
            OutageLimit = TimeSpan.FromSeconds(parseResult.GetValue(OutageSeconds)),
            BootProfilePath = parseResult.GetValue(BootProfile),
            SourceTls = ParseTls(parseResult),
        };
    }

    /// <summary>TLS credentials for an nbds source; TLS options with any other source are a mistake worth saying.</summary>
    private NbdClientTls? ParseTls(ParseResult parseResult)
    {
        string? ca = parseResult.GetValue(TlsCa), certificate = parseResult.GetValue(TlsCert), key = parseResult.GetValue(TlsKey);
        if (ca is null && certificate is null && key is null)
            return null;
        if (!parseResult.GetValue(Source)!.All(source => source.StartsWith("nbds", StringComparison.Ordinal)))
            throw new ArgumentException("--tls-ca, --tls-cert and --tls-key need a TLS source (nbds:// or nbds+unix://)");
        return NbdClientTls.FromPemFiles(ca, certificate, key);
    }

    private static long? ParseRate(string? text)
    {
        if (text is null)
            return null;
        if (!ByteSize.TryParse(text, out long bytes) || bytes <= 0)
            throw new ArgumentException($"--bandwidth '{text}' is not a positive byte rate such as 50M");
        return bytes;
    }
}
