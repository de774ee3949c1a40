using System.CommandLine;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image gc</c>: reclaim chunks and staging files left by interrupted imports.</summary>
internal static class ImageGarbageCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var command = new Command("gc", "Delete chunks no image references and leftovers of interrupted imports");
        CommandContext.Bind(command, options, (context, _) =>
        {
            ImageRemoveCommand.WriteReport(context, new RemoveReport(null, context.Store.CollectGarbage()));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
