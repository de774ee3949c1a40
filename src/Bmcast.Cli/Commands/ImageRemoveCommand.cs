using System.CommandLine;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image rm NAME</c>: remove an image and the chunks only it used.</summary>
internal static class ImageRemoveCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var name = ImageCommand.NameArgument();
        var command = new Command("rm", "Remove an image and garbage-collect the chunks no other image uses");
        command.Arguments.Add(name);
        var grace = ImageGarbageCommand.GraceOption();
        command.Options.Add(grace);
        CommandContext.Bind(command, options, (context, _) =>
        {
            string image = context.GetValue(name);
            var report = new RemoveReport(image, context.Store.Remove(image, ImageGarbageCommand.ParseGrace(context.GetValue(grace))));
            WriteReport(context, report);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary>Shared with <c>image gc</c>, which reports the same collection without a removal.</summary>
    public static void WriteReport(CommandContext context, RemoveReport report)
    {
        if (context.Json)
        {
            context.WriteJson(report, CliJson.Default.RemoveReport);
            return;
        }
        var garbage = report.Garbage;
        string removed = report.Removed is null ? "" : $"removed {report.Removed}; ";
        string packs = garbage.PacksRemoved == 0 ? "" : $"; {garbage.PacksRemoved} packs removed, {garbage.PacksRewritten} of them rewritten";
        string waiting = garbage.PacksWaiting == 0 ? "" : $"; {garbage.PacksWaiting} unreferenced packs kept until the grace period has passed";
        string kept = garbage.DeadBytesKept == 0 ? "" : $"; {ByteSize.Format(garbage.DeadBytesKept)} unreferenced left in packs mostly in use";
        context.Output.WriteLine($"{removed}freed {garbage.ChunksRemoved} chunks ({ByteSize.Format(garbage.BytesFreed)}), {garbage.ChunksKept} chunks still in use{packs}{waiting}{kept}");
    }
}
