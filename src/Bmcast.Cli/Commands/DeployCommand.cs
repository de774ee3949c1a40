using System.CommandLine;
using System.Text.RegularExpressions;
using Bmcast.Agent.Deploy;
using Bmcast.Agent.Events;
using Bmcast.Cli.Output;
using Bmcast.Core.Manifests;
using Bmcast.Engine;
using Bmcast.Engine.Verification;
using Bmcast.Images;
using Bmcast.Machines.Qemu;
using Bmcast.Machines.Qmp;
using Bmcast.Protocols.Nbd;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast deploy</c>: stream an image onto a local target and boot an unmodified OS from it at
/// once in a QEMU machine (KVM when usable, TCG otherwise); pivot the disk onto the target when the
/// copy completes. Running the same command again resumes the copy.
/// </summary>
internal static partial class DeployCommand
{
    /// <summary>What the guest's SMBIOS parser accepts (images/README.md).</summary>
    [GeneratedRegex("^[a-z0-9-]+=[a-z0-9-]+$")]
    private static partial Regex GuestSetting { get; }

    public static Command Create()
    {
        var streaming = new StreamingOptionSet();
        var memory = new Option<string>("--memory") { Description = "Guest memory", DefaultValueFactory = _ => "1G" };
        var cpus = new Option<int>("--cpus") { Description = "Guest CPUs", DefaultValueFactory = _ => 1 };
        var disk = new Option<DiskBus>("--disk") { Description = "How the guest sees its disk", DefaultValueFactory = _ => DiskBus.Virtio };
        var firmware = new Option<Firmware>("--firmware") { Description = "SeaBIOS or OVMF", DefaultValueFactory = _ => Firmware.Bios };
        var guestMode = new Option<string?>("--guest-mode") { Description = "Passed to the guest as SMBIOS bmcast.mode=MODE (e.g. poweroff, stay, write-test)", HelpName = "MODE" };
        var guestSettings = new Option<string[]>("--guest-setting")
        {
            Description = "Passed to the guest as SMBIOS bmcast.KEY=VALUE (repeatable; e.g. sysbench-seconds=10)",
            HelpName = "KEY=VALUE",
            DefaultValueFactory = _ => [],
        };

        var command = new Command("deploy", "Deploy an image: boot a machine from it at once while it streams onto the local target, then pivot");
        streaming.AddTo(command);
        foreach (var option in new Option[] { memory, cpus, disk, firmware, guestMode, guestSettings })
            command.Options.Add(option);
        LongRunningCommand.BindWithMetrics(command, "bmcast.deploy", async (parseResult, logging, cancellationToken) =>
        {
            string work = DeployWorkDirectory.Create();
            try
            {
                if (!ByteSize.TryParse(parseResult.GetValue(memory)!, out long memoryBytes) || memoryBytes < 64 << 20)
                    throw new ArgumentException("--memory must be at least 64M");
                string agentSocket = Path.Combine(work, "agent.sock");
                var stream = streaming.ToRequest(parseResult, NbdEndpoint.Unix(agentSocket)) with { RecordTrace = true };
                string[] settings = parseResult.GetValue(guestSettings)!;
                if (settings.FirstOrDefault(s => !GuestSetting.IsMatch(s)) is { } bad)
                    throw new ArgumentException($"--guest-setting {bad}: expected KEY=VALUE, both of a-z, 0-9 and -");
                var machine = new MachineSpec(agentSocket, work, (int)(memoryBytes >> 20), parseResult.GetValue(cpus),
                    parseResult.GetValue(disk), parseResult.GetValue(firmware), parseResult.GetValue(guestMode), stream.TargetPath + ".console.log",
                    GuestSettings: settings);
                IDeploymentEventSink events = parseResult.GetValue(streaming.Json)
                    ? new JsonDeploymentEvents(new JsonEventWriter(parseResult.InvocationConfiguration.Output))
                    : new ConsoleStreamReporter(parseResult.InvocationConfiguration.Output, "Pivoting the guest onto the local disk; the machine runs on until it powers off.");
                await new DeployRun(new DeployRequest(stream, machine), events, logging).RunAsync(cancellationToken);
            }
            finally
            {
                Directory.Delete(work, recursive: true);
            }
        });
        return command;
    }
}
