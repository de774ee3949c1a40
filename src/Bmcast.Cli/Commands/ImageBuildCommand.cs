using System.CommandLine;
using Bmcast.Agent.ImageBuild;
using Bmcast.Cli.Output;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast image build tiny|tiny-payload|debian|debian-db [--output PATH] [--import [--name NAME]] [--force]</c>:
/// runs the sample image's recipe under <c>images/</c>, or reuses the cached build of the same recipe files.
/// </summary>
internal static class ImageBuildCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var image = new Argument<string>("IMAGE") { Description = "Sample image to build: " + string.Join(", ", RecipeDirectory.Names) };
        image.AcceptOnlyFromAmong([.. RecipeDirectory.Names]);
        var output = new Option<FileInfo?>("--output") { Description = "Also copy the raw disk image here (sparse)", HelpName = "PATH" };
        var import = new Option<bool>("--import") { Description = "Import the image into the store" };
        var name = new Option<string?>("--name") { Description = "Store name for --import (default: the image's name)", HelpName = "NAME" };
        var force = new Option<bool>("--force") { Description = "Rebuild even if cached; replace an existing store image or output file" };

        var command = new Command("build", "Build a sample OS image from Debian packages (cached), optionally importing it");
        command.Arguments.Add(image);
        command.Options.Add(output);
        command.Options.Add(import);
        command.Options.Add(name);
        command.Options.Add(force);
        command.Validators.Add(result =>
        {
            if (result.GetValue(name) is not null && !result.GetValue(import))
                result.AddError("--name needs --import");
        });
        CommandContext.Bind(command, options, async (context, cancellationToken) =>
        {
            string imageName = context.GetValue(image);
            bool forced = context.GetValue(force);
            var builder = new ImageBuilder(RecipeDirectory.Locate(), ImageCache.Default());
            var built = await TerminalProgress.RunAsync(context, report => builder.BuildAsync(imageName, forced, step =>
            {
                report($"{imageName}: {step}", 0, 0);
                if (!context.IsTerminal && !context.Json)
                    context.Error.WriteLine($"bmcast: {imageName}: {step}");
            }, cancellationToken));

            string? copy = context.GetValue(output)?.FullName;
            if (copy is not null)
                await SparseCopy.CopyAsync(built.Path, copy, replace: forced, cancellationToken);
            ImportResult? imported = null;
            if (context.GetValue(import))
            {
                var importOptions = new ImportOptions(context.GetValue(name) ?? imageName, Format: DiskImageFormat.Raw, Force: forced);
                imported = await TerminalProgress.RunAsync(context, report => new ImageImporter(context.StoreForImport).ImportAsync(
                    built.Path, importOptions, progress => report("importing", progress.Done, progress.Total), cancellationToken));
            }

            if (context.Json)
                context.WriteJson(new ImageBuildReport(built, copy, imported), ImageBuildJson.Default.ImageBuildReport);
            else
                context.Output.WriteLine(Summarize(built, copy, imported));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Summarize(BuiltImage built, string? copy, ImportResult? imported)
    {
        string how = built.FromCache ? "cached" : $"built in {built.BuildSeconds:0.0} s";
        string line = $"{built.Name}: {ByteSize.Format(built.SizeBytes)} raw disk, {how}: {built.Path}";
        if (copy is not null)
            line += $"\ncopied to {copy}";
        if (imported is not null)
            line += $"\n{(imported.Replaced ? "replaced" : "imported")} {imported.Image.Name} in the store: root {imported.Image.RootHashPrefix}";
        return line;
    }
}
