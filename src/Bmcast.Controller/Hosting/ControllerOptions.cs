namespace Bmcast.Controller.Hosting;

/// <summary>What <c>bmcast controller</c> was started with.</summary>
/// <param name="Listen">HOST:PORT of the HTTP API (port 0: any free port, printed at start).</param>
/// <param name="Store">The image store the controller serves and deploys from: a directory or <c>s3://BUCKET[/PREFIX]</c>.</param>
/// <param name="Data">Where its token, database, image-server socket and per-deployment logs live.</param>
/// <param name="TokenFile">Read the API token from here instead of generating <c>DATA/token</c>.</param>
/// <param name="TargetsDirectory">When given, every deployment's target must lie under it.</param>
/// <param name="DeployCommand">How to run <c>bmcast</c> (program and leading arguments) for a deployment's process.</param>
public sealed record ControllerOptions(
    string Listen,
    string? Store,
    string Data,
    string? TokenFile,
    string? TargetsDirectory,
    IReadOnlyList<string> DeployCommand)
{
    /// <summary>Emulate a link of this many bytes per second on the controller's image server (demos, tests).</summary>
    public long? LinkBytesPerSecond { get; init; }
}
