using System.CommandLine;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary><c>bmcast image gc</c>: reclaim chunks and staging files left by interrupted imports.</summary>
internal static class ImageGarbageCommand
{
    public static Command Create(ImageCommandOptions options)
    {
        var grace = GraceOption();
        var command = new Command("gc", "Delete chunks no image references and leftovers of interrupted imports");
        command.Options.Add(grace);
        CommandContext.Bind(command, options, (context, _) =>
        {
            ImageRemoveCommand.WriteReport(context, new RemoveReport(null, context.Store.CollectGarbage(ParseGrace(context.GetValue(grace)))));
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary><c>--grace</c> of <c>image gc</c> and <c>image rm</c>: one rule for every store (<see cref="RemovalGrace"/>).</summary>
    internal static Option<string> GraceOption() => new("--grace")
    {
        Description = "Delete an unreferenced pack only once gc has found it unreferenced this long before "
                      + "(servers may still serve a removed image), e.g. 1h, 30m, 0s",
        HelpName = "DURATION",
        DefaultValueFactory = _ => $"{RemovalGrace.Default.TotalMinutes:0}m",
    };

    /// <summary><c>N</c> followed by s, m, h or d.</summary>
    internal static TimeSpan ParseGrace(string text)
    {
        text = text.Trim();
        if (text.Length >= 2 && long.TryParse(text[..^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n))
        {
            switch (text[^1])
            {
                case 's': return TimeSpan.FromSeconds(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'd': return TimeSpan.FromDays(n);
            }
        }
        throw new ArgumentException($"--grace '{text}' is not a duration such as 1h, 30m or 0s");
    }
}
