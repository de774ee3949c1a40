using System.CommandLine;
using Bmcast.Cli.Commands;

var root = new RootCommand("bmcast: start bare-metal machines in seconds by streaming their OS image");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
// Ctrl-C and SIGTERM cancel the command, which then commits its state and stops what it started
// (a deploy asks its guest to power off, then stops QEMU); only after this long is the process
// ended regardless, which would orphan a QEMU.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) };
return await root.Parse(args).InvokeAsync(invocation);
