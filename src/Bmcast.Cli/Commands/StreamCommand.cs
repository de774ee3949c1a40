using System.CommandLine;
using System.Diagnostics;
using Bmcast.Cli.Output;
using Bmcast.Cli.Streaming;
using Bmcast.Core.Manifests;
using Bmcast.Engine;
using Bmcast.Engine.Verification;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Microsoft.Extensions.Logging;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast stream</c>: the streaming agent. Makes a local target file usable at once as a
/// read-write NBD export while the image streams into it, and keeps serving it after completion
/// until stopped (Ctrl-C or SIGTERM). Running the same command again resumes.
/// </summary>
internal static class StreamCommand
{
    public static Command Create()
    {
        var source = new Option<string>("--source") { Description = "Image to stream: nbd://HOST[:PORT]/NAME, nbd+unix:///NAME?socket=PATH or file:///PATH", HelpName = "URI", Required = true };
        var target = new Option<string>("--target") { Description = "Local target file (created sparse when missing)", HelpName = "PATH", Required = true };
        var state = new Option<string?>("--state") { Description = "Presence map file (default: TARGET.bmcast-state)", HelpName = "PATH" };
        var export = new Option<string>("--export") { Description = "Where to export the disk over NBD: HOST:PORT or unix:PATH", HelpName = "ENDPOINT", Required = true };
        var manifest = new Option<string?>("--manifest") { Description = "Verify against this manifest file (for sources without one)", HelpName = "PATH" };
        var trustKey = new Option<string?>("--trust-key") { Description = "Require manifests signed by this key (SHA-256 fingerprint, hex)", HelpName = "FINGERPRINT" };
        var knownKeys = new Option<string?>("--known-keys") { Description = "Pinned image-server keys (default: $XDG_CONFIG_HOME/bmcast/known_keys)", HelpName = "PATH" };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "Cap background copying, bytes per second (e.g. 50M); default: no cap", HelpName = "RATE" };
        var idleGap = new Option<int>("--idle-gap-ms") { Description = "Background copy waits until the guest has been idle this long", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "Print one JSON event per line on stdout" };

        var command = new Command("stream", "Stream an image onto a local disk and export it over NBD while it streams");
        foreach (var option in new Option[] { source, target, state, export, manifest, trustKey, knownKeys, bandwidth, idleGap, json })
            command.Options.Add(option);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            using var logging = CliLogging.Create();
            var log = logging.CreateLogger("bmcast.stream");
            try
            {
                var request = new StreamRequest(
                    parseResult.GetValue(source)!,
                    parseResult.GetValue(target)!,
                    parseResult.GetValue(state) ?? parseResult.GetValue(target) + ".bmcast-state",
                    NbdEndpoint.Parse(parseResult.GetValue(export)!),
                    parseResult.GetValue(manifest),
                    parseResult.GetValue(trustKey),
                    parseResult.GetValue(knownKeys) ?? ManifestTrust.DefaultKnownKeysPath(),
                    new StreamingOptions
                    {
                        IdleGap = TimeSpan.FromMilliseconds(parseResult.GetValue(idleGap)),
                        BackgroundBytesPerSecond = ParseRate(parseResult.GetValue(bandwidth)),
                    });
                var output = parseResult.GetValue(json)
                    ? (IStreamReporter)new JsonStreamReporter(new JsonEventWriter(parseResult.InvocationConfiguration.Output))
                    : new ConsoleStreamReporter(parseResult.InvocationConfiguration.Output);
                await new StreamAgent(request, output, logging).RunAsync(cancellationToken);
                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Success;
            }
            catch (Exception e) when (e is IOException or ManifestFormatException or ManifestTrustException
                                          or InvalidDataException or ArgumentException or FormatException
                                          or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                log.LogError("{Message}", e.Message);
                return ExitCodes.Failed;
            }
        });
        return command;
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
