using System.CommandLine;
using Bmcast.Images;
using Spectre.Console;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image ls</c>: one row per image, with the AoE slot it is served on (shelf: <c>serve --aoe-shelf</c>).</summary>
internal static class ImageListCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var command = new Command("ls", "List the images in the store");
        CommandContext.Bind(command, options, (context, _) =>
        {
            var images = context.Store.List().ToList();
            if (context.Json)
            {
                context.WriteJson(images, CliJson.Default.ListImageInfo);
                return Task.FromResult(ExitCodes.Success);
            }
            var table = new Table().Border(context.IsTerminal ? TableBorder.Rounded : TableBorder.Simple)
                .AddColumns("NAME", "SIZE", "STORED", "CHUNKS", "ZERO", "ROOT", "AOE SLOT");
            foreach (var column in table.Columns.Skip(1).Take(4).Append(table.Columns[^1]))
                column.RightAligned();
            foreach (var image in images)
                table.AddRow(Markup.Escape(image.Name), ByteSize.Format(image.Size), ByteSize.Format(image.StoredBytes),
                    image.ChunkCount.ToString(), image.ZeroChunkCount.ToString(), image.RootHashPrefix,
                    image.AoeSlot?.ToString() ?? "-");
            context.Console.Write(table);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
