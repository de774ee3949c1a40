using Microsoft.Extensions.Logging;

namespace Bmcast.Cli;

/// <summary>Logs of long-running commands: one line each, timestamped, on stderr so stdout stays for results and events.</summary>
public static class CliLogging
{
    public static ILoggerFactory Create() => LoggerFactory.Create(builder => builder
        .AddSimpleConsole(format =>
        {
            format.SingleLine = true;
            format.TimestampFormat = "HH:mm:ss.fff ";
        })
        .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
}
