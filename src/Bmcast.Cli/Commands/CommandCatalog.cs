using System.CommandLine;

namespace Bmcast.Cli.Commands;

/// <summary>
/// Every top-level command, in the order <c>bmcast --help</c> lists them. Public so tests can run the real command tree
/// in-process; the commands themselves are the CLI's own.
/// </summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return ImageCommand.Create();
        yield return ServeCommand.Create();
        yield return StreamCommand.Create();
        yield return DeployCommand.Create();
        yield return DemoCommand.Create();
        yield return ControllerCommand.Create();
    }
}
