using System.CommandLine;
using Bmcast.Agent;
using Microsoft.Extensions.Logging;

namespace Bmcast.Cli.Commands;

/// <summary>
/// The action of a command that runs until it is done or stopped (<c>serve</c>, <c>stream</c>, <c>deploy</c>): Ctrl-C
/// or SIGTERM is a clean stop (logged as <c>stopped</c>), a failure an operator can act on one logged line and exit
/// code 1, anything else a bug that keeps its stack trace.
/// </summary>
internal static class LongRunningCommand
{
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
