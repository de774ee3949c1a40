using System.Diagnostics;
using System.Security.Cryptography;
using Bmcast.Cli.Streaming;
using Bmcast.Engine;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Bmcast.Cli.Demo;

/// <summary>
/// The quick-start demonstration, all on this machine: build an ext4 image, import it, serve it,
/// stream it onto a target through the agent while a client reads and writes, then prove the result
/// (target = image + the client's write, e2fsck clean) and summarize the timings.
/// </summary>
internal sealed class DemoRun(IAnsiConsole console, ILoggerFactory logging, string workspace, long imageSize, long bandwidth)
{
    private const int WriteLength = 64 << 10;

    public async Task<bool> RunAsync(CancellationToken ct)
    {
        await AptPackages.EnsureAsync(new Dictionary<string, string>
        {
            ["mkfs.ext4"] = "e2fsprogs", ["e2fsck"] = "e2fsprogs", ["debugfs"] = "e2fsprogs",
        }, Say, ct);

        Say($"building a {ByteSize.Format(imageSize)} sparse ext4 image with generated files");
        string image = await SampleFileSystem.BuildAsync(workspace, imageSize, files: 48, ct);
        var store = ImageStore.Open(Path.Combine(workspace, "store"));
        await new ImageImporter(store).ImportAsync(image, new ImportOptions("sample"), cancellationToken: ct);
        var manifest = store.ReadManifest("sample");
        Say($"imported: {manifest.ChunkCount} chunks, {manifest.NonZeroChunkCount} with data, root {manifest.RootHashHex[..16]}");

        string serverSocket = Path.Combine(workspace, "server.sock");
        await using var server = new NbdServer(new StoreExportCatalog(store), logging.CreateLogger<NbdServer>());
        await server.StartAsync(NbdEndpoint.Unix(serverSocket), ct);
        Say($"image server on {serverSocket}; streaming to {Path.Combine(workspace, "target.raw")} at most {ByteSize.Format(bandwidth)}/s in the background");

        var request = new StreamRequest($"nbd+unix:///sample?socket={serverSocket}", Path.Combine(workspace, "target.raw"),
            Path.Combine(workspace, "target.state"), NbdEndpoint.Unix(Path.Combine(workspace, "agent.sock")), null, null,
            Path.Combine(workspace, "known_keys"), new StreamingOptions { BackgroundBytesPerSecond = bandwidth });
        var clock = Stopwatch.StartNew();
        var agent = new StreamAgent(request, new ConsoleStreamReporter(Console.Out), logging);
        using var stopAgent = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var agentRun = agent.RunAsync(stopAgent.Token);
        await Task.WhenAny(agentRun, agent.Exported);
        if (agentRun.IsFaulted)
            await agentRun;

        long writeAt = await SampleFileSystem.FirstDataBlockOffsetAsync(image, "/file007.bin", ct);
        var client = await UseDiskAsync(request.Export, writeAt, clock, ct);
        await Task.WhenAny(agentRun, agent.Complete);
        var completeAt = clock.Elapsed;
        await stopAgent.CancelAsync();
        try
        {
            await agentRun;
        }
        catch (OperationCanceledException)
        {
        }

        Say("checking the target: image + the client's write, then e2fsck");
        bool identical = await TargetMatchesAsync(image, request.TargetPath, writeAt);
        bool clean = await FileSystemCleanAsync(request.TargetPath, ct);
        var table = new Table().Title("bmcast demo").AddColumns("", "").HideHeaders();
        table.AddRow("first read served (disk usable)", $"{client.FirstRead.TotalMilliseconds:0} ms after start");
        table.AddRow("client wrote + flushed + read back", $"{client.WriteDone.TotalMilliseconds:0} ms after start");
        table.AddRow("deployment complete", $"{completeAt.TotalSeconds:0.0} s after start");
        table.AddRow("target = image + client's write", identical ? "[green]yes[/]" : "[red]NO[/]");
        table.AddRow("e2fsck -fn on the target", clean ? "[green]clean[/]" : "[red]errors[/]");
        console.Write(table);
        return identical && clean;
    }

    private readonly record struct ClientTimings(TimeSpan FirstRead, TimeSpan WriteDone);

    /// <summary>What a booting OS does first: read the start of the disk, then write into a file and flush.</summary>
    private async Task<ClientTimings> UseDiskAsync(NbdEndpoint export, long writeAt, Stopwatch clock, CancellationToken ct)
    {
        await using var client = await NbdClient.ConnectAsync(export, "", ct);
        var buffer = new byte[1 << 20];
        await client.ReadAsync(0, buffer, ct);
        var firstRead = clock.Elapsed;
        var pattern = Enumerable.Repeat((byte)0x5a, WriteLength).ToArray();
        await client.WriteAsync(writeAt, pattern, cancellationToken: ct);
        await client.FlushAsync(ct);
        await client.ReadAsync(writeAt, buffer.AsMemory(0, WriteLength), ct);
        if (!buffer.AsSpan(0, WriteLength).SequenceEqual(pattern))
            throw new IOException("the client's write did not read back");
        Say($"client: first read after {firstRead.TotalMilliseconds:0} ms, wrote and flushed 64 KiB into /file007.bin");
        return new ClientTimings(firstRead, clock.Elapsed);
    }

    private static async Task<bool> TargetMatchesAsync(string image, string target, long writeAt)
    {
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var actual = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[4 << 20];
        await using (var input = File.OpenRead(image))
        {
            int n;
            long position = 0;
            while ((n = await input.ReadAsync(buffer)) > 0)
            {
                long overlapStart = Math.Max(position, writeAt), overlapEnd = Math.Min(position + n, writeAt + WriteLength);
                if (overlapStart < overlapEnd)
                    buffer.AsSpan((int)(overlapStart - position), (int)(overlapEnd - overlapStart)).Fill(0x5a);
                expected.AppendData(buffer, 0, n);
                position += n;
            }
        }
        await using (var output = File.OpenRead(target))
        {
            int n;
            while ((n = await output.ReadAsync(buffer)) > 0)
                actual.AppendData(buffer, 0, n);
        }
        return expected.GetHashAndReset().AsSpan().SequenceEqual(actual.GetHashAndReset());
    }

    private static async Task<bool> FileSystemCleanAsync(string target, CancellationToken ct)
    {
        try
        {
            await AptPackages.RunAsync(AptPackages.Which("e2fsck")!, $"-fn {target}", ct);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void Say(string message) => console.MarkupLineInterpolated($"[grey]demo:[/] {message}");
}
