using System.CommandLine;
using Bmcast.Agent;
using Bmcast.Agent.Metrics;
using Microsoft.Extensions.Logging;

namespace Bmcast.Cli.Commands;

/// <summary>
/// The action of a command that runs until it is done or stopped (<c>serve</c>, <c>stream</c>, <c>deploy</c>): Ctrl-C
/// or SIGTERM is a clean stop (logged as <c>stopped</c>), a failure an operator can act on one logged line and exit
/// code 1, anything else a bug that keeps its stack trace.
/// </summary>
internal static class LongRunningCommand
{
    /// <summary>
    /// <see cref="Bind"/> with <c>--metrics HOST:PORT</c>: Prometheus metrics served while the command runs, from before
    /// its work starts (a busy port fails it at once).
    /// </summary>
    public static void BindWithMetrics(Command command, string loggerName, Func<ParseResult, ILoggerFactory, CancellationToken, Task> run)
    {
        var metrics = new Option<string?>("--metrics")
        {
            Description = "Serve Prometheus metrics at http://HOST:PORT/metrics while running (port 0: any free port, logged)",
            HelpName = "HOST:PORT",
        };
        command.Options.Add(metrics);
        Bind(command, loggerName, async (parseResult, logging, cancellationToken) =>
        {
            await using var endpoint = parseResult.GetValue(metrics) is { } listen
                ? await MetricsEndpoint.StartAsync(listen, "--metrics", cancellationToken)
                : null;
            if (endpoint is not null)
                logging.CreateLogger(loggerName).LogInformation("metrics on {Url}", endpoint.Url);
            await run(parseResult, logging, cancellationToken);
        });
    }

    public static void Bind(Command command, string loggerName, Func<ParseResult, ILoggerFactory, CancellationToken, Task> run) =>
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            using var logging = CliLogging.Create();
            try
            {
                await run(parseResult, logging, cancellationToken);
                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                logging.CreateLogger(loggerName).LogInformation("stopped");
                return ExitCodes.Success;
            }
            catch (Exception e) when (OperatorError.Is(e))
            {
                logging.CreateLogger(loggerName).LogError("{Message}", e.Message);
                return ExitCodes.Failed;
            }
        });
}
