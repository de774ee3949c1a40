using System.CommandLine;
using Bmcast.Chaos;

// bmcast-chaos CAMPAIGN --runs N: the fault campaigns, outside the shipped bmcast (`./bmcast chaos ...` runs this).
var root = new RootCommand("bmcast-chaos: fault campaigns against the real bmcast: power cuts, server restarts, corrupt sources, fuzzing, failing disks");
foreach (var campaign in ChaosCatalog.All())
    root.Subcommands.Add(ChaosCommand.Create(campaign));
// Stopping lets a campaign stop the bmcast processes it started (each stops its QEMU) before the scratch directory goes.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) };
return await root.Parse(args).InvokeAsync(invocation);
