using System.Diagnostics;

namespace Bmcast.Agent.ImageBuild;

/// <summary>
/// Runs one recipe (<c>bash images/NAME.sh OUTPUT</c>) as a child process. Its <c>==> step</c> lines
/// become progress; the last lines of its output explain a failure.
/// </summary>
public static class RecipeRunner
{
    private const string StepPrefix = "==> ";
    private const int TailLines = 30;

    /// <param name="baseImage">The build a recipe built on another image starts from (<see cref="RecipeDirectory.BaseOf"/>).</param>
    public static async Task RunAsync(string script, string output, string workDirectory, string? baseImage, Action<string> step, CancellationToken ct)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(output);
        info.Environment["BMCAST_IMAGE_WORK"] = workDirectory;
        if (baseImage is not null)
            info.Environment[RecipeDirectory.BaseImageVariable] = baseImage;
        using var process = Process.Start(info) ?? throw new IOException($"cannot start bash {script}");
        var tail = new Queue<string>();
        void Keep(string line)
        {
            lock (tail)
            {
                tail.Enqueue(line);
                if (tail.Count > TailLines)
                    tail.Dequeue();
            }
        }
        async Task ReadAsync(StreamReader reader, bool steps)
        {
            while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
            {
                if (steps && line.StartsWith(StepPrefix, StringComparison.Ordinal))
                    step(line[StepPrefix.Length..]);
                Keep(line);
            }
        }
        var readers = Task.WhenAll(ReadAsync(process.StandardOutput, steps: true), ReadAsync(process.StandardError, steps: false));
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true); // our own child and what it started, nothing else
            await process.WaitForExitAsync(CancellationToken.None);
            throw;
        }
        await readers;
        if (process.ExitCode != 0)
            throw new IOException($"{script} failed (exit {process.ExitCode}):\n{string.Join('\n', tail)}");
    }
}
