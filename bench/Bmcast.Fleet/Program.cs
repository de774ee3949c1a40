using System.Diagnostics;
using System.Text.Json;
using Bmcast.Core.Storage;
using Bmcast.Engine.Tracing;
using Bmcast.Fleet;
using Bmcast.Protocols.Nbd.Client;
using Microsoft.Extensions.Logging;

// Boot-trace replay for bench/fleet.sh, one JSON object on stdout:
//   stream --trace FILE --source URI [--source URI...] --clients N --work DIR
//                                                             N deployments at once, each its own agent (engine, target,
//                                                             connections to every source) replaying the trace against its export:
//                                                             {"clients":N,"ready":[s...],"exported":[s...],"fetched":B,"on_demand":B,"errors":["..."]}
//                                                             (ready and exported each in ascending order)
//   local --trace FILE --image FILE                           the trace against a local copy of the image: {"ready":s}
//   network --trace FILE --source URI --overlay FILE          the trace straight against the server's export, writes into
//                                                             a throwaway overlay (a network boot): {"ready":s}
// The agents log warnings and errors on stderr. Failed deployments are listed in "errors" (the exit code is 0): the
// caller reports every one.
if (args.Length < 1 || args.Length % 2 != 1)
    return Usage();
var options = new Dictionary<string, List<string>>();
for (int i = 1; i < args.Length; i += 2)
    (options.TryGetValue(args[i], out var values) ? values : options[args[i]] = []).Add(args[i + 1]);
string Require(string name) => RequireAll(name)[^1];
List<string> RequireAll(string name) => options.TryGetValue(name, out var values) ? values : throw new ArgumentException($"{args[0]} needs {name}");

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
string traceText = await File.ReadAllTextAsync(Require("--trace"));
switch (args[0])
{
    case "local":
    {
        await using var image = FileBlockDevice.Open(Require("--image"), writable: true);
        var trace = IoTrace.Parse(traceText, image.Size);
        var ready = await IoTraceReplay.RunAsync(trace, image, cancel.Token);
        Console.WriteLine(JsonSerializer.Serialize(new { ready = ready.TotalSeconds }));
        return 0;
    }
    case "network":
    {
        var server = await NbdClient.ConnectAsync(NbdUri.Parse(Require("--source")), cancel.Token);
        await using var disk = new NetworkBootDevice(server, FileBlockDevice.OpenOrCreate(Require("--overlay"), server.Size));
        var trace = IoTrace.Parse(traceText, disk.Size);
        var ready = await IoTraceReplay.RunAsync(trace, disk, cancel.Token);
        Console.WriteLine(JsonSerializer.Serialize(new { ready = ready.TotalSeconds }));
        return 0;
    }
    case "stream":
    {
        int clients = int.Parse(Require("--clients"));
        string work = Require("--work");
        // The trace's ranges are checked against the disk when each agent knows it: parse once for the format.
        var trace = IoTrace.Parse(traceText, long.MaxValue);
        using var logging = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Warning)
            .AddSimpleConsole(format => format.SingleLine = true)
            .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
        var started = Stopwatch.StartNew();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, clients).Select(client =>
            Task.Run(() => new ReplayedDeployment(client, RequireAll("--source"), Path.Combine(work, $"agent-{client}"), trace, logging).RunAsync(cancel.Token))));
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            clients,
            ready = outcomes.Where(o => o.ReadySeconds is not null).Select(o => o.ReadySeconds!.Value).Order().ToArray(),
            exported = outcomes.Where(o => o.ExportedSeconds is not null).Select(o => o.ExportedSeconds!.Value).Order().ToArray(),
            fetched = outcomes.Sum(o => o.FetchedBytes),
            on_demand = outcomes.Sum(o => o.OnDemandBytes),
            wall = started.Elapsed.TotalSeconds,
            errors = outcomes.Where(o => o.Error is not null).Select(o => $"client {o.Client}: {o.Error}").ToArray(),
        }));
        return 0;
    }
    default:
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: Bmcast.Fleet stream --trace FILE --source URI [--source URI...] --clients N --work DIR | local --trace FILE --image FILE"
        + " | network --trace FILE --source URI --overlay FILE");
    return 2;
}
