using System.CommandLine;
using Bmcast.Agent.Host;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image import FILE --name NAME</c>.</summary>
internal static class ImageImportCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var file = new Argument<FileInfo>("FILE") { Description = "Disk image to import (raw, qcow2, vmdk, vhdx or vdi)" };
        var name = new Option<string>("--name") { Description = "Name of the new image", HelpName = "NAME", Required = true };
        var chunkSize = new Option<int>("--chunk-size")
        {
            Description = "Chunk size: a power of two from 4K to 16M",
            HelpName = "SIZE",
            DefaultValueFactory = _ => ImportOptions.DefaultChunkSize,
            CustomParser = result =>
            {
                if (ByteSize.TryParse(result.Tokens[0].Value, out long bytes) && bytes <= int.MaxValue)
                    return (int)bytes;
                result.AddError($"'{result.Tokens[0].Value}' is not a size such as 64K or 1M");
                return 0;
            },
        };
        var format = new Option<DiskImageFormat>("--format")
        {
            Description = "Source format; auto asks qemu-img",
            HelpName = "auto|raw|qcow2|vmdk|vhdx|vdi",
            DefaultValueFactory = _ => DiskImageFormat.Auto,
        };
        var force = new Option<bool>("--force") { Description = "Replace an existing image of the same name" };

        var command = new Command("import", "Import a disk image file into the store");
        command.Arguments.Add(file);
        command.Options.Add(name);
        command.Options.Add(chunkSize);
        command.Options.Add(format);
        command.Options.Add(force);
        CommandContext.Bind(command, options, async (context, cancellationToken) =>
        {
            var importOptions = new ImportOptions(context.GetValue(name), context.GetValue(chunkSize),
                context.GetValue(format), context.GetValue(force));
            if (importOptions.Format != DiskImageFormat.Raw)
                await AptPackages.EnsureAsync(HostTools.ImageConversion, step => context.Error.WriteLine($"bmcast: {step}"), cancellationToken);
            var importer = new ImageImporter(context.StoreForImport);
            var result = await TerminalProgress.RunAsync(context, report =>
                importer.ImportAsync(context.GetValue(file).FullName, importOptions,
                    progress => report(progress.Phase == ImportPhase.Converting ? "converting" : "importing", progress.Done, progress.Total),
                    cancellationToken));
            if (context.Json)
                context.WriteJson(result, CliJson.Default.ImportResult);
            else
                context.Output.WriteLine(Summarize(result));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Summarize(ImportResult result)
    {
        var image = result.Image;
        double seconds = Math.Max(result.Elapsed.TotalSeconds, 1e-3);
        return $"{(result.Replaced ? "replaced" : "imported")} {image.Name}: {ByteSize.Format(image.Size)} in {image.ChunkCount} chunks " +
               $"({image.ZeroChunkCount} zero), {ByteSize.Format(image.StoredBytes)} of data, {ByteSize.Format(result.NewBytes)} new in the store; " +
               $"root {image.RootHashPrefix}; {seconds:0.0} s ({ByteSize.Format((long)(result.DataBytesRead / seconds))}/s read)";
    }
}
