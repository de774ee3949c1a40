using System.CommandLine;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Images;
using Spectre.Console;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image inspect NAME</c>: everything known about one image.</summary>
internal static class ImageInspectCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var name = ImageCommand.NameArgument();
        var command = new Command("inspect", "Show an image's metadata, manifest and signing key");
        command.Arguments.Add(name);
        CommandContext.Bind(command, options, (context, _) =>
        {
            var details = Describe(context.Store, context.GetValue(name));
            if (context.Json)
                context.WriteJson(details, CliJson.Default.ImageDetails);
            else
                context.Console.Write(AsGrid(details));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static ImageDetails Describe(IImageStore store, string name)
    {
        var info = store.GetInfo(name);
        byte[] encoded = store.ReadEncodedManifest(name);
        var manifest = Manifest.Decode(encoded);
        string? storeKey = store.KeyFingerprint;
        return new ImageDetails(
            info,
            manifest.NonZeroChunkCount,
            encoded.Length,
            manifest.HasValidSignature(),
            manifest.KeyFingerprint == storeKey,
            storeKey,
            ExportName: name,
            ManifestExportName: ExportNames.ManifestOf(name),
            StorePath: store.Location);
    }

    /// <summary>The source file's size and modification time as they were when it was read, when recorded.</summary>
    private static string SourceDetails(ImageInfo image) =>
        image.SourceSize is { } size && image.SourceModified is { } modified
            ? $", {ByteSize.Format(size)} ({size} bytes), modified {modified.ToUniversalTime():u}"
            : "";

    private static Grid AsGrid(ImageDetails details)
    {
        var image = details.Image;
        var grid = new Grid().AddColumn().AddColumn();
        void Row(string label, string value) => grid.AddRow(new Text(label), new Text(value));
        Row("name", image.Name);
        Row("size", $"{ByteSize.Format(image.Size)} ({image.Size} bytes)");
        Row("chunk size", ByteSize.Format(image.ChunkSize));
        Row("chunks", $"{image.ChunkCount} ({image.ZeroChunkCount} zero, {details.NonZeroChunkCount} stored)");
        Row("stored", $"{ByteSize.Format(image.StoredBytes)} ({image.StoredBytes} bytes, before deduplication)");
        Row("source", $"{image.SourceFile} ({image.SourceFormat}{SourceDetails(image)})");
        Row("imported", image.Created.ToString("u"));
        Row("root hash", image.RootHash);
        Row("manifest", $"{details.ManifestBytes} bytes, export {details.ManifestExportName}");
        Row("signed by", image.KeyFingerprint);
        Row("signature", details.SignatureValid ? "valid" : "INVALID");
        Row("store key", details.SignedByStoreKey ? "this store's key" : $"NOT this store's key ({details.StoreKeyFingerprint ?? "none"})");
        Row("store", details.StorePath);
        return grid;
    }
}
