using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Bmcast.Agent;
using Bmcast.Core.Manifests;
using Bmcast.Images;
using Spectre.Console;

namespace Bmcast.Cli.Commands;

/// <summary>
/// What an image command needs from its invocation: the store, where to write, and whether a human
/// is watching. Output goes to the invocation's writers, not straight to <see cref="Console"/>, so
/// tests can run commands in-process and capture what they print.
/// </summary>
internal sealed class CommandContext
{
    private readonly ParseResult _parseResult;
    private readonly ImageCommandOptions _options;
    private IImageStore? _store;

    private CommandContext(ParseResult parseResult, ImageCommandOptions options)
    {
        _parseResult = parseResult;
        _options = options;
        Output = parseResult.InvocationConfiguration.Output;
        Error = parseResult.InvocationConfiguration.Error;
        IsTerminal = ReferenceEquals(Output, System.Console.Out) && !System.Console.IsOutputRedirected;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Output),
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = IsTerminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
    }

    public TextWriter Output { get; }

    public TextWriter Error { get; }

    /// <summary>Human-facing output (tables, progress) on the same stream as <see cref="Output"/>.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Stdout is a terminal: progress bars are welcome.</summary>
    public bool IsTerminal { get; }

    public bool Json => _parseResult.GetValue(_options.Json);

    /// <summary>The store, which must exist: only imports create one (<see cref="StoreForImport"/>).</summary>
    public IImageStore Store => _store ??= ImageStores.OpenExisting(_parseResult.GetValue(_options.Store), Notice);

    /// <summary>The store, created if it does not exist yet.</summary>
    public IImageStore StoreForImport => _store ??= ImageStores.Open(_parseResult.GetValue(_options.Store), Notice);

    /// <summary>What the store does of its own accord (moving an old store into packs): one line on stderr.</summary>
    private void Notice(string line) => Error.WriteLine($"bmcast: {line}");

    public T GetValue<T>(Option<T> option) => _parseResult.GetValue(option)!;

    public T GetValue<T>(Argument<T> argument) => _parseResult.GetValue(argument)!;

    public void WriteJson<T>(T value, JsonTypeInfo<T> type) => Output.WriteLine(JsonSerializer.Serialize(value, type));

    /// <summary>
    /// Run a command body, turning the failures an operator can act on into one line on stderr and
    /// exit code 1 (130 when interrupted), rather than a stack trace.
    /// </summary>
    public static void Bind(Command command, ImageCommandOptions options, Func<CommandContext, CancellationToken, Task<int>> body) =>
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var context = new CommandContext(parseResult, options);
            try
            {
                return await body(context, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                context.Error.WriteLine("bmcast: interrupted");
                return ExitCodes.Interrupted;
            }
            catch (Exception e) when (OperatorError.Is(e))
            {
                context.Error.WriteLine($"bmcast: {e.Message}");
                return ExitCodes.Failed;
            }
        });
}
