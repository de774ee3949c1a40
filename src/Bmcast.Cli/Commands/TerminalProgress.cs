using Spectre.Console;

namespace Bmcast.Cli.Commands;

/// <summary>
/// A single Spectre.Console progress bar when stdout is a terminal and no JSON was asked for;
/// otherwise the work runs silently, so redirected output stays plain.
/// </summary>
internal static class TerminalProgress
{
    /// <summary>The work reports (description, done, total); a total of 0 means "unknown yet".</summary>
    public delegate void Report(string description, long done, long total);

    public static async Task<T> RunAsync<T>(CommandContext context, Func<Report, Task<T>> work)
    {
        if (!context.IsTerminal || context.Json)
            return await work((_, _, _) => { });
        return await context.Console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask("starting", maxValue: 1);
                return await work((description, done, total) =>
                {
                    task.Description = description;
                    task.IsIndeterminate = total == 0;
                    if (total == 0)
                        return;
                    task.MaxValue = total;
                    task.Value = done;
                });
            });
    }
}
