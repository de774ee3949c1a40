using System.CommandLine;
using Bmcast.Engine;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast image profile NAME --from FILE</c>: keep a boot profile recorded by <c>bmcast deploy</c>
/// (<c>TARGET.boot-profile</c>) with the image; agents streaming it then prefetch those chunks first.
/// </summary>
internal static class ImageProfileCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var name = ImageCommand.NameArgument();
        var from = new Option<string>("--from") { Description = "Boot profile file (one chunk index per line)", HelpName = "FILE", Required = true };
        var command = new Command("profile", "Keep a recorded boot profile with an image, for prefetching on later deployments");
        command.Arguments.Add(name);
        command.Options.Add(from);
        CommandContext.Bind(command, options, async (context, ct) =>
        {
            string image = context.GetValue(name);
            string text = await File.ReadAllTextAsync(context.GetValue(from), ct);
            var chunks = BootProfile.Parse(text, context.Store.ReadManifest(image).ChunkCount);
            context.Store.WriteBootProfile(image, System.Text.Encoding.UTF8.GetBytes(text));
            if (!context.Json)
                context.Output.WriteLine($"kept a boot profile of {chunks.Count} chunks with {image}");
            return ExitCodes.Success;
        });
        return command;
    }
}
