using System.CommandLine;
using System.Text.RegularExpressions;
using Bmcast.Agent;
using Bmcast.Agent.BareMetal;
using Bmcast.Agent.ImageBuild;
using Bmcast.Cli.Demo;
using Bmcast.Images;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast demo</c>: the README's quick start; everything in a scratch directory removed afterwards.</summary>
internal static partial class DemoCommand
{
    /// <summary>What the guest's SMBIOS parser accepts as a value (images/README.md).</summary>
    [GeneratedRegex("^[a-z0-9-]+$")]
    private static partial Regex GuestMode { get; }

    public static Command Create()
    {
        var rate = new Option<string>("--rate") { Description = "Emulated link between image server and machine, bytes per second (125M = 1 Gbit/s)", DefaultValueFactory = _ => "125M" };
        var keep = new Option<bool>("--keep") { Description = "Keep the scratch directory (store, copies, console logs) for a look afterwards" };
        var bareMetal = new Option<bool>("--bare-metal")
        {
            Description = "Instead: deploy onto an EMPTY local disk of an emulated bare-metal machine under the hypervisor (vmm/), "
                + "streamed over AoE, until it de-virtualizes; then compare the disk with the image (needs root)",
        };
        var image = new Option<string>("--image") { Description = "With --bare-metal: the sample image", DefaultValueFactory = _ => "tiny" };
        image.AcceptOnlyFromAmong([.. RecipeDirectory.Names]);
        var json = new Option<bool>("--json") { Description = "With --bare-metal: one JSON event per line on stdout (the stable format)" };
        var guestMode = new Option<string>("--guest-mode")
        {
            Description = "With --bare-metal: what the guest does after its marker (images/README.md), e.g. stay, or write-on to keep writing "
                + "while the disk completes",
            HelpName = "MODE",
            DefaultValueFactory = _ => BareMetalDemoRun.DefaultGuestMode,
        };
        guestMode.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } mode && !GuestMode.IsMatch(mode))
                result.AddError("--guest-mode takes a mode name of lower-case letters, digits and dashes (images/README.md)");
        });
        var command = new Command("demo", "Deploy a sample OS twice, by copying and by bmcast streaming, and compare (all on this machine)");
        foreach (var option in new Option[] { rate, keep, bareMetal, image, json, guestMode })
            command.Options.Add(option);
        command.SetAction(async (parseResult, ct) =>
        {
            if (!ByteSize.TryParse(parseResult.GetValue(rate)!, out long bytesPerSecond) || bytesPerSecond <= 0)
            {
                AnsiConsole.MarkupLine("[red]demo failed:[/] --rate must be a positive rate such as 125M");
                return ExitCodes.Failed;
            }
            if (parseResult.GetValue(bareMetal))
                return await BareMetalDemo.RunAsync(parseResult.GetValue(image)!, parseResult.GetValue(guestMode)!, bytesPerSecond, parseResult.GetValue(json),
                    parseResult.GetValue(keep), parseResult.InvocationConfiguration.Output, ct);
            if (parseResult.GetValue(json) || parseResult.GetResult(image) is { Implicit: false } || parseResult.GetResult(guestMode) is { Implicit: false })
            {
                AnsiConsole.MarkupLine("[red]demo failed:[/] --image, --guest-mode and --json go with --bare-metal");
                return ExitCodes.Failed;
            }
            string workspace = Directory.CreateTempSubdirectory("bmcast-demo-").FullName;
            using var logging = LoggerFactory.Create(builder => builder.AddSimpleConsole(f => f.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace));
            try
            {
                bool ok = await new DemoRun(AnsiConsole.Console, logging, workspace, bytesPerSecond).RunAsync(ct);
                return ok ? ExitCodes.Success : ExitCodes.Failed;
            }
            catch (Exception e) when (OperatorError.Is(e))
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
