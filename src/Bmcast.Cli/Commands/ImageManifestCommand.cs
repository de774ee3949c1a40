using System.CommandLine;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast image manifest NAME --output FILE</c>: write an image's signed manifest to a file, so an
/// agent streaming the same image from a foreign server (nbdkit, qemu-nbd) can verify it with
/// <c>bmcast stream --manifest FILE</c>.
/// </summary>
internal static class ImageManifestCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var name = ImageCommand.NameArgument();
        var output = new Option<string>("--output", "-o") { Description = "File to write the manifest to", HelpName = "FILE", Required = true };
        var command = new Command("manifest", "Write an image's signed manifest to a file (for bmcast stream --manifest)");
        command.Arguments.Add(name);
        command.Options.Add(output);
        CommandContext.Bind(command, options, async (context, ct) =>
        {
            string image = context.GetValue(name);
            string path = context.GetValue(output);
            byte[] encoded = context.Store.ReadEncodedManifest(image);
            await File.WriteAllBytesAsync(path, encoded, ct);
            if (!context.Json)
                context.Output.WriteLine($"wrote the manifest of {image} ({encoded.Length} bytes) to {path}");
            return ExitCodes.Success;
        });
        return command;
    }
}
