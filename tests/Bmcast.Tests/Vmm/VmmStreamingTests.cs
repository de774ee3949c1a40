using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using Bmcast.Images;
using Bmcast.Tests.Images;
using Bmcast.Tests.OsImages;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// The hypervisor streams (issue 11 (b), (c)): the tiny sample image, imported into a store that <c>bmcast serve --aoe</c>
/// serves in a namespace, is deployed onto an EMPTY NVMe disk (a sparse file: the image's size plus the hidden tail)
/// by the hypervisor holding each doorbell until the chunks the new commands read are fetched, verified and written
/// (<see cref="BareMetalRig"/>); with the background copy the disk completes and the hypervisor leaves. A corrupt
/// chunk in the store and a server killed mid-boot both end in I/O errors in the guest, which goes on and powers
/// itself off: nothing hangs, nothing unverified is written. A power cut resumes from the map in the hidden tail.
/// </summary>
public sealed class VmmStreamingTests(VmmStreamingTests.Setup setup, ITestOutputHelper output) : IClassFixture<VmmStreamingTests.Setup>
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(6);
    // tiny's initramfs looks for its root for a minute (600 tries), then powers off saying so.
    private const string RootNotFound = "bmcast-initramfs: no partition labelled";

    [Fact]
    public async Task An_empty_disk_streams_the_tiny_image_on_demand_to_its_ready_marker_and_every_present_chunk_holds_the_images_bytes()
    {
        await setup.EnsureAsync();
        using var dir = new TempDirectory();
        string target = dir.File("target.img");
        BareMetalRig.CreateEmptyDisk(target, setup.ImageBytes);
        // On demand only, and the guest powers off under the hypervisor: the map at power-off knows every guest write.
        await using var rig = await BareMetalRig.StartAsync(setup.Store, setup.RootHash, target, vmmOptions: "bmcast.vmm.background=off");

        var streaming = await rig.WaitForEventAsync("streaming", BootTimeout);
        var ready = await rig.Machine.WaitForAsync("BMCAST-READY", BootTimeout);
        await rig.Machine.WaitForExitAsync(TimeSpan.FromMinutes(2));
        var presence = await rig.WaitForEventAsync("presence", TimeSpan.FromSeconds(5));
        var holds = await rig.WaitForEventAsync("holds", TimeSpan.FromSeconds(5));
        var progress = rig.Events.Last(e => e.Name == "progress");

        Assert.Equal(setup.ChunkCount, streaming.Number("chunks"));
        Assert.Equal(setup.ImageBytes, streaming.Number("image_bytes"));
        Assert.Equal(0, streaming.Number("present"));
        Assert.DoesNotContain(rig.Events, e => e.Name == "error");
        Assert.Equal(0, holds.Number("failed_commands"));
        Assert.True(progress.Number("on_demand_bytes") > 0, progress.Line);
        Assert.Equal(0, progress.Number("background_bytes"));
        // The firmware reads the kernel and initramfs sequentially: their misses read ahead.
        Assert.True(progress.Number("read_ahead_chunks") > 0, progress.Line);

        bool[] present = presence.Map("present_map", setup.ChunkCount), written = presence.Map("written_map", setup.ChunkCount);
        Assert.Equal(progress.Number("present"), present.Count(p => p));
        byte[] image = await File.ReadAllBytesAsync(setup.ImagePath, TestContext.Current.CancellationToken);
        byte[] disk = await File.ReadAllBytesAsync(target, TestContext.Current.CancellationToken);
        int compared = 0;
        for (int c = 0; c < setup.ChunkCount; c++)
        {
            if (!present[c])
                Assert.True(ChunkOf(disk, c).IndexOfAnyExcept((byte)0) < 0, $"chunk {c} is not marked present, yet something wrote it");
            else if (!written[c])
            {
                Assert.True(ChunkOf(image, c).SequenceEqual(ChunkOf(disk, c)), $"chunk {c} is marked present but differs from the image");
                compared++;
            }
        }
        Assert.True(compared > 100, $"only {compared} chunks were present and unwritten by the guest");
        output.WriteLine($"ready after {ready.TotalSeconds:0.0} s (QEMU TCG on a loaded shared machine); {compared} present chunks "
            + $"equal the image, {written.Count(w => w)} written by the guest; {progress.Line}; {holds.Line}");
    }

    [Fact]
    public async Task With_the_background_copy_the_disk_completes_and_the_hypervisor_de_virtualizes_itself()
    {
        await setup.EnsureAsync();
        using var dir = new TempDirectory();
        string target = dir.File("target.img");
        BareMetalRig.CreateEmptyDisk(target, setup.ImageBytes);
        // "stay": the guest idles after its marker, so the background copy gets HLTs and the disk completes.
        await using var rig = await BareMetalRig.StartAsync(setup.Store, setup.RootHash, target, guestMode: "stay");

        var ready = await rig.Machine.WaitForAsync("BMCAST-READY", BootTimeout);
        var complete = await rig.WaitForEventAsync("complete", BootTimeout);
        var devirtualized = await rig.WaitForEventAsync("devirtualized", TimeSpan.FromMinutes(2));
        // The event line is the second-last the hypervisor prints; the count starts after its last one, which the
        // serial console may deliver a moment later.
        await rig.Machine.WaitForAsync("SVM off, no exits from here on", TimeSpan.FromMinutes(1));
        int linesAtLeave = rig.Machine.LinesContaining("bmcast-vmm:").Count;
        await Task.Delay(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        int linesLater = rig.Machine.LinesContaining("bmcast-vmm:").Count;
        string exits = rig.Machine.LinesContaining("bmcast-vmm: exits total=").Last();
        await rig.Machine.DisposeAsync();   // the guest stops before its disk is read
        var events = rig.Events;
        var presence = events.Single(e => e.Name == "presence");

        Assert.DoesNotContain(events, e => e.Name == "error");
        Assert.Equal(setup.ChunkCount, complete.Number("present"));
        Assert.Equal(100, complete.Number("present_percent"));
        Assert.True(complete.Number("background_bytes") + complete.Number("zero_filled") > 0, complete.Line);
        Assert.True(complete.Number("on_demand_bytes") + complete.Number("background_bytes") <= setup.ImageBytes, complete.Line);
        // The copy ran at HLTs, and gave way at HLTs where the guest waited for its own I/O (the boot's reads).
        Assert.True(complete.Number("idle_slices") > 0, complete.Line);
        Assert.True(complete.Number("idle_yields_io") > 0, complete.Line);
        Assert.True(complete.Fields.ContainsKey("idle_yields_interrupt"), complete.Line);   // printed; how often depends on timing
        // At those HLTs the guest's next HLTs halted until an interrupt, which exited once each (HltExit.HaltUntilInterrupt).
        Assert.Matches(@" intr=[1-9][0-9]*", exits);
        // The e1000's ring tails were written in batches, not once per frame (Net/E1000).
        Assert.True(complete.Number("rx_tail_writes") < complete.Number("frames_received"), complete.Line);
        Assert.True(complete.Number("tx_tail_writes") < complete.Number("frames_sent"), complete.Line);
        Assert.DoesNotContain(false, presence.Map("present_map", setup.ChunkCount));
        Assert.True(devirtualized.Number("exits") > 0, devirtualized.Line);
        Assert.True(rig.Machine.Printed("SVM off, no exits from here on"), rig.Machine.Console);
        Assert.Equal(linesAtLeave, linesLater);   // no exit after leaving: nothing more from the hypervisor

        // After leaving, the hypervisor no longer sees guest writes (ext4 writes back atimes when it likes), so the
        // bytes are checked where the guest never writes: the boot partition (FAT, never mounted by tiny), whose
        // kernel and initrd came on demand and whose free space the background copy filled with zeros.
        byte[] image = await File.ReadAllBytesAsync(setup.ImagePath, TestContext.Current.CancellationToken);
        byte[] disk = await File.ReadAllBytesAsync(target, TestContext.Current.CancellationToken);
        var (first, last) = setup.BootPartitionChunks();
        for (long c = first; c <= last; c++)
            Assert.True(ChunkOf(image, (int)c).SequenceEqual(ChunkOf(disk, (int)c)), $"boot partition chunk {c} differs from the image");
        output.WriteLine($"ready after {ready.TotalSeconds:0.0} s (QEMU TCG on a loaded shared machine); boot partition chunks "
            + $"{first}-{last} equal the image; {complete.Line}; {devirtualized.Line}");
    }

    [Fact]
    public async Task After_a_power_cut_mid_deployment_the_next_boot_resumes_fetches_nothing_again_and_keeps_flushed_writes()
    {
        await setup.EnsureAsync();
        using var dir = new TempDirectory();
        string target = dir.File("target.img");
        BareMetalRig.CreateEmptyDisk(target, setup.ImageBytes);
        int lastWrote;
        await using (var first = await BareMetalRig.StartAsync(setup.Store, setup.RootHash, target, guestMode: "write-loop",
            vmmOptions: "bmcast.vmm.background=off"))
        {
            // write-loop prints "BMCAST-WROTE N" once file N is synced; cut the power a random moment after the first.
            await first.Machine.WaitForAsync("BMCAST-WROTE 1", BootTimeout);
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(0, 3000)), TestContext.Current.CancellationToken);
            await first.Machine.DisposeAsync();   // SIGKILL: the machine loses power, nothing is shut down
            lastWrote = first.Machine.LinesContaining("BMCAST-WROTE ").Max(line => int.Parse(line.Split("BMCAST-WROTE ")[1].Trim()));
            Assert.DoesNotContain(first.Events, e => e.Name == "error");
        }
        var onDisk = OnDiskPresenceMap.ReadDisk(target, setup.ImageBytes, setup.ChunkCount, ChunkSize, Convert.FromHexString(setup.RootHash));
        Assert.True(onDisk is not null, "no valid presence map in the hidden tail after the power cut");
        int committed = onDisk.Value.Map.Sum(b => System.Numerics.BitOperations.PopCount(b));
        // The write gap: a chunk the map on disk claims holds its data. A guest write that covered an absent chunk
        // wholly and was cut off before it landed would leave zeros where the image has data (the guest's files are
        // never zeros), had the map claimed that chunk at the doorbell rather than after the write completed.
        byte[] image = await File.ReadAllBytesAsync(setup.ImagePath, TestContext.Current.CancellationToken);
        byte[] afterCut = await File.ReadAllBytesAsync(target, TestContext.Current.CancellationToken);
        for (int c = 0; c < setup.ChunkCount; c++)
        {
            bool claimed = (onDisk.Value.Map[c / 8] >> (c % 8) & 1) != 0;
            Assert.False(claimed && ChunkOf(afterCut, c).IndexOfAnyExcept((byte)0) < 0 && ChunkOf(image, c).IndexOfAnyExcept((byte)0) >= 0,
                $"chunk {c} is committed as present but reads as zeros: neither the image nor a guest write");
        }

        await using var second = await BareMetalRig.StartAsync(setup.Store, setup.RootHash, target, guestMode: "write-check");
        var resumed = await second.WaitForEventAsync("resumed", BootTimeout);
        var check = await second.Machine.WaitForAsync("BMCAST-WRITES-", BootTimeout);
        await second.Machine.WaitForExitAsync(TimeSpan.FromMinutes(2));
        var events = second.Events;
        var last = events.Last(e => e.Name is "progress" or "complete");

        Assert.Equal(committed, resumed.Number("present"));
        Assert.Equal((long)onDisk.Value.Sequence, resumed.Number("sequence"));
        Assert.True(committed > 0, "the first boot committed nothing");
        string verdict = second.Machine.LineContaining("BMCAST-WRITES-")!;
        Assert.Contains("BMCAST-WRITES-OK", verdict);
        Assert.True(int.Parse(verdict.Split("files=")[1].Trim()) >= lastWrote, $"file {lastWrote} was durable before the cut: {verdict}");
        Assert.DoesNotContain(events, e => e.Name == "error");
        // Every chunk made present in this boot was absent at resume: nothing present was fetched (or zeroed, or claimed) again.
        Assert.Equal(last.Number("present"),
            resumed.Number("present") + last.Number("fetched_chunks") + last.Number("zero_filled") + last.Number("guest_owned"));
        output.WriteLine($"power cut after BMCAST-WROTE {lastWrote}; {committed} chunks committed on disk (map sequence "
            + $"{onDisk.Value.Sequence}); resumed: {resumed.Line}; {verdict} at {check.TotalSeconds:0.0} s; {last.Line} (TCG, loaded machine)");
    }

    [Fact]
    public async Task A_corrupt_chunk_is_never_written_and_the_guest_gets_an_IO_error_without_hanging()
    {
        await setup.EnsureAsync();
        using var dir = new TempDirectory();
        string store = dir.File("store");
        await setup.ImportAsync(store);
        // The chunk with the root file system's superblock: read by the guest's initramfs, never by the firmware's boot path.
        long chunk = setup.RootSuperblockChunk();
        StoreSurgery.FlipByte(ImageStore.OpenExisting(store), Convert.FromHexString(setup.ChunkHash(chunk)), ChunkSize / 2);
        string target = dir.File("target.img");
        BareMetalRig.CreateEmptyDisk(target, setup.ImageBytes);
        await using var rig = await BareMetalRig.StartAsync(store, setup.RootHash, target);

        await rig.Machine.WaitForAsync("I/O error", BootTimeout);
        await rig.Machine.WaitForAsync(RootNotFound, BootTimeout);
        await rig.Machine.WaitForExitAsync(TimeSpan.FromMinutes(2));

        var errors = rig.Events.Where(e => e.Name == "error").ToList();
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Equal(("verify", chunk), (e.Text("reason"), e.Number("chunk"))));
        Assert.True(rig.Machine.LinesContaining("I/O error on dev nvme0n1p2").Count > 0, rig.Machine.Console);
        var presence = await rig.WaitForEventAsync("presence", TimeSpan.FromSeconds(5));
        Assert.False(presence.Map("present_map", setup.ChunkCount)[chunk], "the corrupt chunk was marked present");
        byte[] disk = await File.ReadAllBytesAsync(target, TestContext.Current.CancellationToken);
        Assert.True(ChunkOf(disk, (int)chunk).IndexOfAnyExcept((byte)0) < 0, "the corrupt chunk's bytes reached the disk");
        output.WriteLine($"chunk {chunk}: {Failures(errors)} verification failures, each an I/O error in the guest; it powered off by itself");
    }

    [Fact]
    public async Task A_server_killed_mid_boot_ends_in_IO_errors_within_the_bound_and_the_machine_goes_on()
    {
        await setup.EnsureAsync();
        using var dir = new TempDirectory();
        string target = dir.File("target.img");
        BareMetalRig.CreateEmptyDisk(target, setup.ImageBytes);
        // On demand only: a background copy could finish the disk before the server goes.
        await using var rig = await BareMetalRig.StartAsync(setup.Store, setup.RootHash, target, vmmOptions: "bmcast.vmm.background=off");

        // The kernel and initramfs are in memory once Linux prints its banner; its root is still on the server.
        await rig.Machine.WaitForAsync("Linux version", BootTimeout);
        await rig.StopServerAsync();
        var killed = DateTime.UtcNow;
        var error = await rig.WaitForEventAsync("error", TimeSpan.FromMinutes(1));
        var errorSeen = DateTime.UtcNow - killed;
        await rig.Machine.WaitForAsync("I/O error", TimeSpan.FromMinutes(1));
        await rig.Machine.WaitForAsync(RootNotFound, BootTimeout);
        await rig.Machine.WaitForExitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal("aoe", error.Text("reason"));
        Assert.All(rig.Events.Where(e => e.Name == "error"), e => Assert.Equal("aoe", e.Text("reason")));
        Assert.False(rig.Machine.Printed("BMCAST-READY"), rig.Machine.Console);
        output.WriteLine($"first I/O error {errorSeen.TotalSeconds:0.0} s after the server was killed (TCG, loaded machine); "
            + $"{Failures(rig.Events.Where(e => e.Name == "error"))} failed fetches; the guest powered off by itself");
    }

    /// <summary>Failures the error events stand for: each line, plus the repeats it reports as suppressed.</summary>
    private static long Failures(IEnumerable<VmmEvent> errors) =>
        errors.Sum(e => 1 + (e.Fields.ContainsKey("suppressed") ? e.Number("suppressed") : 0));

    private static ReadOnlySpan<byte> ChunkOf(byte[] bytes, int chunk)
    {
        int start = chunk * ChunkSize;
        return bytes.AsSpan(start, Math.Min(ChunkSize, bytes.Length - start));
    }

    private const int ChunkSize = 64 * 1024;

    /// <summary>Built once for the class: the hypervisor, the tiny image, and a store holding it.</summary>
    public sealed class Setup : IAsyncLifetime
    {
        private readonly TinyImageFixture _tiny = new();
        private readonly TempDirectory _dir = new();
        private readonly Lock _lock = new();
        private Task? _build;

        public string Store => _dir.File("store");
        public string ImagePath { get; private set; } = "";
        public string RootHash { get; private set; } = "";
        public long ImageBytes { get; private set; }
        public long ChunkCount { get; private set; }

        public ValueTask InitializeAsync() => ValueTask.CompletedTask;

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
            await _tiny.InitializeAsync();
            ImagePath = _tiny.Image.Path;
            await ImportAsync(Store);
            var inspected = await CliRunner.RunAsync("image", "inspect", "tiny", "--store", Store, "--json");
            Assert.True(inspected.ExitCode == 0, $"inspect failed: {inspected.Output}{inspected.Error}");
            var image = JsonDocument.Parse(inspected.Output).RootElement.GetProperty("image");
            RootHash = image.GetProperty("rootHash").GetString()!;
            ImageBytes = image.GetProperty("size").GetInt64();
            ChunkCount = image.GetProperty("chunkCount").GetInt64();
            Assert.Equal(ChunkSize, image.GetProperty("chunkSize").GetInt32());
        }

        /// <summary>The tiny image imported into <paramref name="store"/> as "tiny" (the same manifest and root every time).</summary>
        public async Task ImportAsync(string store)
        {
            var imported = await CliRunner.RunAsync("image", "import", ImagePath, "--name", "tiny", "--store", store);
            Assert.True(imported.ExitCode == 0, $"import failed: {imported.Output}{imported.Error}");
        }

        /// <summary>The chunk holding the ext4 superblock (1 KiB into the second MBR partition) of the image.</summary>
        public long RootSuperblockChunk()
        {
            using var file = File.OpenRead(ImagePath);
            var mbr = new byte[512];
            file.ReadExactly(mbr);
            long start = BinaryPrimitives.ReadUInt32LittleEndian(mbr.AsSpan(PartitionEntry(2) + 8));
            return (start * 512 + 1024) / ChunkSize;
        }

        /// <summary>Offset of MBR partition entry n (1-4): 16 bytes each from 0x1BE; first LBA at +8, sectors at +12.</summary>
        private static int PartitionEntry(int n) => 0x1BE + 16 * (n - 1);

        /// <summary>The chunks wholly inside the image's first MBR partition (the FAT boot partition).</summary>
        public (long First, long Last) BootPartitionChunks()
        {
            using var file = File.OpenRead(ImagePath);
            var mbr = new byte[512];
            file.ReadExactly(mbr);
            long start = BinaryPrimitives.ReadUInt32LittleEndian(mbr.AsSpan(PartitionEntry(1) + 8)) * 512L;
            long end = start + BinaryPrimitives.ReadUInt32LittleEndian(mbr.AsSpan(PartitionEntry(1) + 12)) * 512L;
            return ((start + ChunkSize - 1) / ChunkSize, end / ChunkSize - 1);
        }

        /// <summary>The store's name for a chunk of the image: its SHA-256 in hex.</summary>
        public string ChunkHash(long chunk)
        {
            using var file = File.OpenRead(ImagePath);
            var bytes = new byte[ChunkSize];
            file.Position = chunk * ChunkSize;
            file.ReadExactly(bytes);
            return Convert.ToHexStringLower(SHA256.HashData(bytes));
        }

        public async ValueTask DisposeAsync()
        {
            await _tiny.DisposeAsync();
            _dir.Dispose();
        }
    }
}
