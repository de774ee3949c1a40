using System.CommandLine;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image verify NAME</c>: exit 0 when intact, 2 with the damage listed when not.</summary>
internal static class ImageVerifyCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var name = ImageCommand.NameArgument();
        var command = new Command("verify", "Re-hash every stored chunk of an image and check its manifest's root hash and signature");
        command.Arguments.Add(name);
        CommandContext.Bind(command, options, async (context, cancellationToken) =>
        {
            string image = context.GetValue(name);
            var info = context.Store.GetInfo(image);
            var verifier = new ImageVerifier(context.Store);
            // Shown in bytes so the bar's speed column reads as a rate of data checked.
            var report = await TerminalProgress.RunAsync(context, progress =>
                verifier.VerifyAsync(image, done => progress("verifying", Math.Min(done * info.ChunkSize, info.Size), info.Size),
                    cancellationToken));
            if (context.Json)
                context.WriteJson(report, CliJson.Default.VerifyReport);
            else
                WriteHuman(context.Output, report);
            return report.IsValid ? ExitCodes.Success : ExitCodes.Corrupt;
        });
        return command;
    }

    private static void WriteHuman(TextWriter output, VerifyReport report)
    {
        if (report.ManifestError is not null)
        {
            output.WriteLine($"{report.Name}: manifest is damaged: {report.ManifestError}");
            return;
        }
        foreach (var bad in report.BadChunks)
            output.WriteLine($"{report.Name}: chunk {bad.Chunk} at offset {bad.Offset}: {bad.Problem}{(bad.Path.Length == 0 ? "" : $" ({bad.Path} at {bad.FileOffset})")}");
        if (!report.SignatureValid)
            output.WriteLine($"{report.Name}: manifest signature is INVALID");
        else if (!report.SignedByStoreKey)
            output.WriteLine($"{report.Name}: manifest is signed by a key that is not this store's");
        output.WriteLine(report.IsValid
            ? $"{report.Name}: OK ({report.ChunksChecked} chunks checked, root hash and signature valid)"
            : $"{report.Name}: DAMAGED ({report.BadChunks.Count} bad of {report.ChunksChecked} chunks)");
    }
}
