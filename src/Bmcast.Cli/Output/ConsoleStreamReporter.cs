using Bmcast.Agent.Events;
using Bmcast.Engine;
using Bmcast.Images;
using Spectre.Console;

namespace Bmcast.Cli.Output;

/// <summary>
/// For a person: a live Spectre.Console progress bar on a terminal (plain lines every few seconds
/// when redirected), then a summary table when the deployment completes. Shows the stream's events; the
/// machine's are in the log.
/// </summary>
internal sealed class ConsoleStreamReporter : IDeploymentEventSink
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);
    private readonly IAnsiConsole _console;
    private readonly bool _live;
    private readonly string _afterComplete;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _display;
    private ProgressTask? _bar;
    private TimeSpan _lastPlain;

    /// <param name="afterComplete">What happens once the copy is complete, told to the operator.</param>
    public ConsoleStreamReporter(TextWriter output, string afterComplete)
    {
        _afterComplete = afterComplete;
        _live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = _live ? AnsiSupport.Detect : AnsiSupport.No,
            Interactive = _live ? InteractionSupport.Detect : InteractionSupport.No,
        });
    }

    public void Publish(DeploymentEvent deploymentEvent)
    {
        switch (deploymentEvent)
        {
            case StreamStarted started:
                Started(started);
                break;
            case StreamProgressed e:
                Progress(e.Progress);
                break;
            case StreamCompleted e:
                Complete(e.Progress);
                break;
            case StreamStopped e:
                Stopped(e.Progress);
                break;
        }
    }

    private void Started(StreamStarted started)
    {
        var progress = started.Progress;
        _console.MarkupLineInterpolated($"{(started.Resumed ? "Resuming" : "Streaming")} [bold]{string.Join(" + ", started.Sources)}[/] -> {started.Target} ({(started.Verified ? "verified" : "[yellow]unverified[/]")}), exported on [bold]{started.Export}[/]");
        if (!_live)
            return;
        var ready = new TaskCompletionSource();
        _display = _console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                _bar = context.AddTask("deploying", maxValue: progress.TotalBytes);
                ready.SetResult();
                await _finished.Task;
            });
        ready.Task.Wait();
        Progress(progress);
    }

    private void Progress(StreamingProgress progress)
    {
        if (_bar is not null)
        {
            _bar.Value = progress.PresentBytes;
            _bar.Description = $"on demand {ByteSize.Format(progress.BytesOnDemand)}, background {ByteSize.Format(progress.BytesBackground)}";
        }
        else if (progress.Elapsed - _lastPlain >= PlainInterval)
        {
            _lastPlain = progress.Elapsed;
            _console.WriteLine($"{progress.Fraction:P1} present, on demand {ByteSize.Format(progress.BytesOnDemand)}, background {ByteSize.Format(progress.BytesBackground)}");
        }
    }

    private void Complete(StreamingProgress progress)
    {
        Progress(progress);
        EndDisplay();
        var table = new Table().AddColumns("", "").HideHeaders();
        table.AddRow("time to complete", $"{progress.Elapsed.TotalSeconds:0.0} s");
        table.AddRow("disk size", ByteSize.Format(progress.TotalBytes));
        table.AddRow("fetched on demand", ByteSize.Format(progress.BytesOnDemand));
        table.AddRow("fetched in background", ByteSize.Format(progress.BytesBackground));
        table.AddRow("zero chunks (not fetched)", progress.ZeroChunks.ToString());
        table.AddRow("guest writes", ByteSize.Format(progress.GuestBytesWritten));
        table.AddRow("fetch retries / bad chunks", $"{progress.FetchFailures} / {progress.VerificationFailures}");
        _console.Write(table);
        _console.MarkupLineInterpolated($"[green]Deployment complete[/]: every block present and committed. {_afterComplete}");
    }

    private void Stopped(StreamingProgress progress)
    {
        EndDisplay();
        _console.WriteLine($"stopped at {progress.Fraction:P1} present");
    }

    private void EndDisplay()
    {
        _finished.TrySetResult();
        _display?.Wait();
        _display = null;
        _bar = null;
    }
}
