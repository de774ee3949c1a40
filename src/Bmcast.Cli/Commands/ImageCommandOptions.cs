using System.CommandLine;

namespace Bmcast.Cli.Commands;

/// <summary>Options every <c>bmcast image</c> subcommand takes, declared once on the group.</summary>
internal sealed class ImageCommandOptions
{
    public Option<string?> Store { get; } = StoreOption.Create();

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the result as one JSON document on stdout",
        Recursive = true,
    };
}

/// <summary><c>--store DIR</c>, shared by the image commands and <c>bmcast serve</c>.</summary>
internal static class StoreOption
{
    public static Option<string?> Create() => new("--store")
    {
        Description = "Image store: a directory, or s3://BUCKET[/PREFIX][?endpoint=URL] (credentials from the AWS environment or profile; "
                      + "endpoint default $AWS_ENDPOINT_URL) (default: $BMCAST_STORE, else $XDG_DATA_HOME/bmcast or ~/.local/share/bmcast)",
        HelpName = "STORE",
        Recursive = true,
    };
}
