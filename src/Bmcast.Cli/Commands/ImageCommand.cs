using System.CommandLine;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image</c>: manage the local image store.</summary>
internal static class ImageCommand
{
    public static Command Create()
    {
        var options = new ImageCommandOptions();
        var command = new Command("image", "Import, list, inspect, verify and remove images in the store (a directory or an S3 bucket)");
        command.Options.Add(options.Store);
        command.Options.Add(options.Json);
        command.Subcommands.Add(ImageImportCommand.Create(options));
        command.Subcommands.Add(ImageBuildCommand.Create(options));
        command.Subcommands.Add(ImageListCommand.Create(options));
        command.Subcommands.Add(ImageInspectCommand.Create(options));
        command.Subcommands.Add(ImageVerifyCommand.Create(options));
        command.Subcommands.Add(ImageManifestCommand.Create(options));
        command.Subcommands.Add(ImageProfileCommand.Create(options));
        command.Subcommands.Add(ImageRemoveCommand.Create(options));
        command.Subcommands.Add(ImageGarbageCommand.Create(options));
        return command;
    }

    /// <summary>The NAME argument of the commands that act on one image.</summary>
    public static Argument<string> NameArgument() => new("NAME") { Description = "Image name" };
}
