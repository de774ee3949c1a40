namespace Bmcast.Controller.Deployments;

/// <summary>
/// A deployment's files under <c>DATA/deployments/ID/</c>: <c>events.jsonl</c> (its deploy's <c>--json</c> events,
/// written by the process itself, so nothing is lost while no controller runs) and <c>stderr.log</c> (its log).
/// </summary>
public sealed class DeploymentFiles(string dataDirectory, string id)
{
    public string Directory { get; } = Path.Combine(dataDirectory, "deployments", id);

    public string Events => Path.Combine(Directory, "events.jsonl");

    public string Errors => Path.Combine(Directory, "stderr.log");

    /// <summary>The deploy's last error line (its one-line failure report), if any.</summary>
    public string? LastError()
    {
        if (!File.Exists(Errors))
            return null;
        return File.ReadLines(Errors).LastOrDefault(line => line.Contains(" fail: ", StringComparison.Ordinal) || line.StartsWith("bmcast:", StringComparison.Ordinal)) is { } line
            ? line[(line.IndexOf(": ", StringComparison.Ordinal) + 2)..].Trim()
            : null;
    }
}
