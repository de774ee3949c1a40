using Bmcast.Engine;
using Bmcast.Images;
using Spectre.Console;

namespace Bmcast.Cli.Streaming;

/// <summary>
/// For a person: a live Spectre.Console progress bar on a terminal (plain lines every few seconds
/// when redirected), then a summary table when the deployment completes.
/// </summary>
internal sealed class ConsoleStreamReporter : IStreamReporter
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

    public void Started(StreamRequest request, StreamingSession session, bool verified, StreamingProgress progress)
    {
        _console.MarkupLineInterpolated($"{(session.Resumed ? "Resuming" : "Streaming")} [bold]{request.SourceUri}[/] -> {request.TargetPath} ({(verified ? "verified" : "[yellow]unverified[/]")}), exported on [bold]{request.Export}[/]");
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

    public void Progress(StreamingProgress progress)
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

    public void Complete(StreamingProgress progress)
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

    public void Stopped(StreamingProgress progress)
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
