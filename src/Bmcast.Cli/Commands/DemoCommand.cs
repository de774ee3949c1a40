using System.CommandLine;
using Bmcast.Cli.Demo;
using Bmcast.Images;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast demo</c>: the README's quick start; everything in a scratch directory removed afterwards.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var size = new Option<string>("--size") { Description = "Size of the generated disk image", DefaultValueFactory = _ => "2G" };
        var bandwidth = new Option<string>("--bandwidth") { Description = "Background copy rate, to watch the streaming happen", DefaultValueFactory = _ => "40M" };
        var keep = new Option<bool>("--keep") { Description = "Keep the scratch directory (image, store, target) for a look afterwards" };
        var command = new Command("demo", "Build a sample image, serve it, stream it onto a local target while a client uses it, and check the result");
        command.Options.Add(size);
        command.Options.Add(bandwidth);
        command.Options.Add(keep);
        command.SetAction(async (parseResult, ct) =>
        {
            if (!ByteSize.TryParse(parseResult.GetValue(size)!, out long imageSize) || imageSize < 256 << 20)
                throw new ArgumentException("--size must be at least 256M");
            if (!ByteSize.TryParse(parseResult.GetValue(bandwidth)!, out long rate) || rate <= 0)
                throw new ArgumentException("--bandwidth must be a positive rate such as 40M");
            string workspace = Directory.CreateTempSubdirectory("bmcast-demo-").FullName;
            using var logging = LoggerFactory.Create(builder => builder.AddSimpleConsole(f => f.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace));
            try
            {
                bool ok = await new DemoRun(AnsiConsole.Console, logging, workspace, imageSize, rate).RunAsync(ct);
                return ok ? ExitCodes.Success : ExitCodes.Failed;
            }
            catch (IOException e)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]demo failed:[/] {e.Message}");
                return ExitCodes.Failed;
            }
            finally
            {
                if (parseResult.GetValue(keep))
                    AnsiConsole.MarkupLineInterpolated($"kept {workspace}");
                else
                    Directory.Delete(workspace, recursive: true);
            }
        });
        return command;
    }
}
