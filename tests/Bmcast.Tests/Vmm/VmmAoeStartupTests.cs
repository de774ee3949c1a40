using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bmcast.Tests.Aoe;
using Bmcast.Images;
using Bmcast.Tests.Images;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.OsImages;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// The hypervisor's trust path against our real server: QEMU (OVMF, the hypervisor's FAT drive as vmm/run-qemu.sh makes
/// it, a copy of the stand-in OS disk on NVMe, an e1000 on a tap device) runs in a network namespace where
/// <c>bmcast serve --aoe</c> serves the stand-in disk imported into a store. Configured by SMBIOS strings, the
/// hypervisor finds its e1000, fetches the manifest from the companion slot over AoE, checks it against the pinned
/// root, reads and verifies every chunk (bmcast.vmm.aoe-verify), prints one summary line, hides the NIC and boots the
/// OS. A wrong root, a corrupt chunk, or no server stops the machine with one line before any OS starts.
/// </summary>
public sealed class VmmAoeStartupTests(VmmAoeStartupTests.Setup setup, ITestOutputHelper output) : IClassFixture<VmmAoeStartupTests.Setup>
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(4);
    private static readonly Regex Summary = new(
        @"bmcast-vmm: aoe: e1\.0 manifest ok root=(?<root>[0-9a-f]{16}) chunks=(?<chunks>\d+) zero=(?<zero>\d+) verified=(?<verified>\d+) "
        + @"sectors/frame=(?<spf>\d+) read=(?<bytes>\d+) bytes in (?<ms>\d+) ms MiB/s=(?<mibs>\d+) resends=(?<resends>\d+)");

    [Theory]
    [InlineData(1500, 2)]
    [InlineData(9000, 17)]
    public async Task The_pinned_root_passes_every_chunk_verifies_and_the_OS_boots_without_the_NIC(int mtu, int sectorsPerFrame)
    {
        await setup.EnsureAsync();
        await using var tap = await setup.NamespaceAsync(mtu);
        await using var server = await setup.ServeAsync(tap);
        await using var machine = setup.Boot(tap, setup.RootHash, "bmcast.vmm.aoe-verify=1000000");

        await machine.WaitForAsync("manifest ok", BootTimeout);
        await machine.WaitForAsync("BMCAST-READY", BootTimeout);
        await machine.WaitForExitAsync(TimeSpan.FromMinutes(1));
        var summary = Summary.Match(machine.LineContaining("manifest ok") ?? "");
        Assert.True(summary.Success, $"no summary line; console:\n{machine.Console}");
        Assert.Equal(setup.RootHash[..16], summary.Groups["root"].Value);
        Assert.Equal(setup.ChunkCount, long.Parse(summary.Groups["chunks"].Value));
        Assert.Equal(setup.ZeroChunkCount, long.Parse(summary.Groups["zero"].Value));
        Assert.Equal(setup.ChunkCount, long.Parse(summary.Groups["verified"].Value));
        Assert.Equal(sectorsPerFrame, int.Parse(summary.Groups["spf"].Value));
        Assert.True(machine.Printed("bmcast-vmm: guest running under SVM"), machine.Console);
        Assert.True(machine.Printed("bmcast-guest: pci functions="), machine.Console);
        Assert.True(machine.Printed("ethernet=0"), $"the guest saw the hypervisor's e1000; console:\n{machine.Console}");
        Assert.False(machine.Printed("PANIC"), machine.Console);
        output.WriteLine($"MTU {mtu}: {summary.Value} (QEMU TCG on a loaded shared machine)");
    }

    [Fact]
    public async Task Lost_replies_are_resent_and_every_chunk_still_verifies()
    {
        await setup.EnsureAsync();
        await using var tap = await setup.NamespaceAsync(9000);
        // Lose a tenth of the server's replies: netem on the tap's egress (towards the machine) where the kernel has it,
        // else the hypervisor's own fault injection, which drops every tenth reply it receives before matching it.
        var netem = await ExternalTool.RunAsync("ip", tap.Exec("tc", "qdisc", "add", "dev", tap.Interface, "root", "netem", "loss", "10%"));
        string loss = netem.ExitCode == 0 ? "netem loss 10%" : "bmcast.vmm.aoe-drop=10";
        if (netem.ExitCode != 0)
            output.WriteLine($"no netem here ({netem.Error.Trim()}): the hypervisor drops every tenth reply instead");
        await using var server = await setup.ServeAsync(tap);
        await using var machine = netem.ExitCode == 0
            ? setup.Boot(tap, setup.RootHash, "bmcast.vmm.aoe-verify=1000000")
            : setup.Boot(tap, setup.RootHash, "bmcast.vmm.aoe-verify=1000000", "bmcast.vmm.aoe-drop=10");

        await machine.WaitForAsync("manifest ok", BootTimeout);
        await machine.WaitForAsync("BMCAST-READY", BootTimeout);
        var summary = Summary.Match(machine.LineContaining("manifest ok") ?? "");
        Assert.True(summary.Success, $"no summary line; console:\n{machine.Console}");
        Assert.Equal(setup.ChunkCount, long.Parse(summary.Groups["verified"].Value));
        Assert.True(long.Parse(summary.Groups["resends"].Value) > 0, $"{loss} but no resend: {summary.Value}");
        output.WriteLine($"{loss}: {machine.LineContaining("manifest ok")} (QEMU TCG on a loaded shared machine)");
    }

    [Fact]
    public async Task A_wrong_pinned_root_is_refused_and_no_OS_starts()
    {
        await setup.EnsureAsync();
        await using var tap = await setup.NamespaceAsync(1500);
        await using var server = await setup.ServeAsync(tap);
        string wrong = (setup.RootHash[0] == '0' ? "1" : "0") + setup.RootHash[1..];
        await using var machine = setup.Boot(tap, wrong);

        await machine.WaitForAsync("bmcast-vmm: aoe: refused: the manifest's root hash is not the pinned bmcast.vmm.root; the machine stops", BootTimeout);
        await Task.Delay(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.False(machine.Printed("guest running under SVM"), machine.Console);
        Assert.False(machine.Printed("BMCAST-READY"), machine.Console);
    }

    [Fact]
    public async Task A_corrupt_chunk_in_the_store_is_detected_and_no_OS_starts()
    {
        await setup.EnsureAsync();
        // A store of its own: the server does not check chunks it reads, so the damage reaches the hypervisor.
        using var dir = new TempDirectory();
        string store = dir.File("store");
        var imported = await CliRunner.RunAsync("image", "import", setup.Disk, "--name", "standin", "--store", store);
        Assert.True(imported.ExitCode == 0, $"import failed: {imported.Output}{imported.Error}");
        var first = new byte[setup.ChunkSize];
        await using (var disk = File.OpenRead(setup.Disk))
            await disk.ReadExactlyAsync(first, TestContext.Current.CancellationToken);
        StoreSurgery.FlipByte(ImageStore.OpenExisting(store), SHA256.HashData(first), setup.ChunkSize - 1);

        await using var tap = await setup.NamespaceAsync(9000);
        await using var server = await setup.ServeAsync(tap, store);
        await using var machine = setup.Boot(tap, setup.RootHash);

        await machine.WaitForAsync("bmcast-vmm: aoe: chunk 0 does not match its hash in the manifest", BootTimeout);
        await machine.WaitForAsync("bmcast-vmm: aoe: refused: a chunk failed verification; the machine stops", BootTimeout);
        Assert.False(machine.Printed("manifest ok"), machine.Console);
        Assert.False(machine.Printed("guest running under SVM"), machine.Console);
    }

    [Fact]
    public async Task Without_a_server_the_check_fails_within_its_bound_and_no_OS_starts()
    {
        await setup.EnsureAsync();
        await using var tap = await setup.NamespaceAsync(1500);
        await using var machine = setup.Boot(tap, setup.RootHash);

        var nic = await machine.WaitForAsync("bmcast-vmm: aoe: e1000 at PCI", BootTimeout);
        var refused = await machine.WaitForAsync("bmcast-vmm: aoe: refused: the image server did not serve what the check needs", BootTimeout);
        Assert.True(machine.Printed("bmcast-vmm: aoe: e1.0 (the image's target): no AoE target answered the config query"), machine.Console);
        Assert.False(machine.Printed("guest running under SVM"), machine.Console);
        output.WriteLine($"refused {(refused - nic).TotalSeconds:0.0} s after the NIC started (bound: 10 s of discovery; TCG, loaded machine)");
    }

    /// <summary>Built once for the class: the hypervisor, the stand-in disk, and a store holding that disk.</summary>
    public sealed class Setup : IDisposable
    {
        private readonly TempDirectory _dir = new();
        private readonly Lock _lock = new();
        private Task? _build;

        public string Store => _dir.File("store");
        public string Disk { get; private set; } = "";
        public int ChunkSize { get; private set; }
        public string RootHash { get; private set; } = "";
        public long ChunkCount { get; private set; }
        public long ZeroChunkCount { get; private set; }

        /// <summary>Skips the calling test when a prerequisite is missing; builds everything on the first call.</summary>
        public async Task EnsureAsync()
        {
            BareMetalRig.SkipUnlessSupported();
            lock (_lock)
                _build ??= BuildAsync();
            await _build;
        }

        private async Task BuildAsync()
        {
            await VmmScripts.BuildAsync();
            // A copy of its own: QEMU locks the disk it opens, and vmm/test.sh may boot the shared stand-in meanwhile.
            Disk = _dir.File("standin.img");
            File.Copy(await VmmScripts.StandInDiskAsync(), Disk);
            var imported = await CliRunner.RunAsync("image", "import", Disk, "--name", "standin", "--store", Store);
            Assert.True(imported.ExitCode == 0, $"import failed: {imported.Output}{imported.Error}");
            var inspected = await CliRunner.RunAsync("image", "inspect", "standin", "--store", Store, "--json");
            Assert.True(inspected.ExitCode == 0, $"inspect failed: {inspected.Output}{inspected.Error}");
            var image = JsonDocument.Parse(inspected.Output).RootElement.GetProperty("image");
            RootHash = image.GetProperty("rootHash").GetString()!;
            ChunkCount = image.GetProperty("chunkCount").GetInt64();
            ZeroChunkCount = image.GetProperty("zeroChunkCount").GetInt64();
            ChunkSize = image.GetProperty("chunkSize").GetInt32();
            Assert.Equal(0, image.GetProperty("aoeSlot").GetInt32());
        }

        internal async Task<TapNamespace> NamespaceAsync(int mtu)
        {
            var tap = await TapNamespace.CreateAsync();
            await ExternalTool.RunCheckedAsync("ip", "-n", tap.Namespace, "link", "set", tap.Interface, "mtu", mtu.ToString());
            return tap;
        }

        /// <summary><c>bmcast serve --aoe</c> in the namespace: the image on e1.0, its manifest on e2.0.</summary>
        internal async Task<ExternalTool.BackgroundProcess> ServeAsync(TapNamespace tap, string? store = null)
        {
            var server = ExternalTool.StartBackground("ip", tap.Exec("dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"),
                "serve", "--aoe", tap.Interface, "--aoe-shelf", "1", "--store", store ?? Store));
            await tap.WaitForAoeSocketAsync(TimeSpan.FromSeconds(60));
            return server;
        }

        /// <summary>The machine, in the namespace (ip and run-qemu.sh exec, so the PID is QEMU's).</summary>
        internal GuestMachine Boot(TapNamespace tap, string root, params string[] options) =>
            GuestMachine.Start("ip", tap.Exec([VmmScripts.PathOf("run-qemu.sh"), "--disk", Disk, "--aoe-tap", tap.Interface,
                "--vmm-option", "bmcast.vmm.aoe=e1.0", "--vmm-option", "bmcast.vmm.root=" + root,
                .. options.SelectMany(o => new[] { "--vmm-option", o })]));

        public void Dispose()
        {
            _dir.Dispose();
        }
    }
}
