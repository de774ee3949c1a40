using System.CommandLine;
using Bmcast.Cli.Commands;

var root = new RootCommand("bmcast: start bare-metal machines in seconds by streaming their OS image");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
