using Bmcast.Agent.Streaming;
using Bmcast.Core.Blocks;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.TestKit.Processes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Chaos;

/// <summary>
/// <c>bmcast chaos corrupt-source</c>: deployments from an NBD source that lies (bits flipped, bytes
/// of the wrong offset) behind a relay that cuts replies short, verified with the image's signed
/// manifest, while a guest reads. No bad byte may reach the guest or the target, and every lie must
/// show up in the agent's verification-failure count. Each run also offers the agent a manifest with
/// one byte changed, which it must refuse to start with.
/// </summary>
public sealed class CorruptSourceCampaign : IChaosCampaign
{
    private const int ImageSize = 16 << 20;
    private const double LieRate = 0.05;
    private const double CutRate = 0.5;

    public string Name => "corrupt-source";

    public string Description => "Stream from a source that flips bits, answers from the wrong offset and truncates replies; nothing unverified may be used";

    public string RunUnit => "deployments";

    public int DefaultRuns => 20;

    public IReadOnlyList<string> LossCounters { get; } = ["corrupt_reads", "corrupt_blocks", "tampered_manifests_accepted", "unfinished_deployments"];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        var image = SyntheticImage.Create(ImageSize, context.Random);
        string directory = context.Directory("rig");
        // The agent streams from the lying server below: the rig's store only signs the manifest, and serves nothing.
        await using var rig = await ChaosRig.ImportAsync(directory, image, ct);
        string manifest = Path.Combine(directory, "disk.manifest");
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "manifest", ChaosRig.ImageName, "--store", rig.Store, "--output", manifest);
        if (code != 0)
            throw new InvalidOperationException($"image manifest failed: {error.Trim()}");

        var liar = new CorruptingImageDevice(image, context.Fork(), LieRate, DiskGeometry.DefaultChunkSize);
        string backend = Path.Combine(directory, "liar.sock");
        await using var server = new NbdServer(new SingleExportCatalog(ChaosRig.ImageName, "lying image", liar), NullLogger<NbdServer>.Instance);
        await server.StartAsync(NbdEndpoint.Unix(backend), ct);
        await using var proxy = new TruncatingProxy(Path.Combine(directory, "source.sock"), backend, context.Fork(), CutRate);
        string source = $"nbd+unix:///{ChaosRig.ImageName}?socket={Path.Combine(directory, "source.sock")}";

        for (int run = 1; run <= runs; run++)
        {
            string runDirectory = context.Directory($"run-{run}");
            await RefuseTamperedManifestAsync(context, rig, source, manifest, runDirectory);
            await DeployAsync(context, rig, image, source, manifest, runDirectory, ct);
            await rig.ForgetExitedAsync();
            context.RunFinished(run);
        }
        context.Tally.Add("bit_flips_served", liar.BitFlips);
        context.Tally.Add("wrong_offsets_served", liar.WrongOffsets);
        context.Tally.Add("replies_cut", proxy.Cuts);
    }

    private static async Task DeployAsync(ChaosContext context, ChaosRig rig, SyntheticImage image, string source, string manifest,
        string directory, CancellationToken ct)
    {
        string target = Path.Combine(directory, "target.raw");
        string export = Path.Combine(directory, "agent.sock");
        var agent = await rig.StartAgentAsync(source, target, export, "--manifest", manifest);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(NbdEndpoint.Unix(export), ""), ct);
        // A chunk that fails verification on every attempt fails the guest's read (DESIGN §4 rule 5): allowed, counted.
        var reader = new VerifyingReader(image, context.Fork(), "guest_read_errors") { ExpectFailures = true };
        reader.Start(client);
        if (await ChaosRig.FinishAsync(context.Tally, new ChaosDeployment(directory, target, agent, client), reader, ct) is { } complete)
            context.Tally.Add("verification_failures", complete.GetProperty("verification_failures").GetInt64());
        context.Log.LogDebug("deployment in {Directory} done", directory);
    }

    /// <summary>A manifest with one byte changed: the agent must exit with an error before creating the target.</summary>
    private static async Task RefuseTamperedManifestAsync(ChaosContext context, ChaosRig rig, string source, string manifest, string directory)
    {
        byte[] bytes = await File.ReadAllBytesAsync(manifest);
        // Half the time the seal itself: the signature and the public key are the last 160 bytes or so.
        int position = context.Random.Next(2) == 0 ? context.Random.Next(bytes.Length) : bytes.Length - 1 - context.Random.Next(Math.Min(160, bytes.Length));
        bytes[position] ^= (byte)(1 << context.Random.Next(8));
        string tampered = Path.Combine(directory, "tampered.manifest");
        await File.WriteAllBytesAsync(tampered, bytes);
        string target = Path.Combine(directory, "tampered-target.raw");
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "stream", "--source", source, "--manifest", tampered,
            "--target", target, "--export", "unix:" + Path.Combine(directory, "tampered.sock"), "--known-keys", rig.KnownKeys);
        if (code == 0 || File.Exists(target))
            context.Tally.Loss("tampered_manifests_accepted", $"byte {position} of the manifest changed, yet the agent started (exit {code})");
        else
            context.Tally.Add("tampered_manifests_refused");
        context.Log.LogInformation("manifest with byte {Position} changed: {Error}", position, error.Trim().Split('\n')[^1]);
    }
}
