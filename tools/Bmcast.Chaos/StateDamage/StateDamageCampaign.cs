using System.Security.Cryptography;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.TestKit.Processes;
using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos.StateDamage;

/// <summary>
/// <c>bmcast chaos state-damage</c> (issue 15, defects 3 and 7): deployments whose agent is killed (SIGKILL) at random
/// moments while a guest writes and flushes, and whose state file is damaged while the agent is dead (0xFF over bitmap
/// pages, torn and random slots, swapped slots, random bytes in the header and table, truncation, growth, removal);
/// then the agent is started again. It must resume, or refuse with a clear error that changes nothing (the campaign
/// then puts the undamaged file back, as an operator restoring it would). After every restart every block the guest
/// wrote is read back against its ledger; at completion every block of the target is compared with the image and the
/// surviving writes. Every third run the image behind the source's name is replaced mid-deployment: the agent must say
/// so (<c>source-changed</c>), a restart against the replaced image must be refused, and the deployment must resume
/// once the image is back.
/// </summary>
public sealed partial class StateDamageCampaign : IChaosCampaign
{
    private const int ImageSize = 16 << 20;
    private const string Bandwidth = "6M";
    // Slow enough that the copy is still under way when the image is replaced (12 MiB of data: about 12 s); the agent
    // started once the image is back copies at the usual rate.
    private const string ReplacementBandwidth = "1M";
    private static readonly TimeSpan EventTimeout = TimeSpan.FromMinutes(2);

    public string Name => "state-damage";

    public string Description => "Kill the agent mid-deployment and damage its state file (0xFF bitmaps, torn and swapped slots, random bytes, truncation), or replace the source's image; it must resume without serving a chunk it does not hold, or refuse clearly";

    public string RunUnit => "deployments";

    public int DefaultRuns => 30;

    public IReadOnlyList<string> LossCounters { get; } =
        ["corrupt_blocks", "lost_writes", "unclear_refusals", "refusals_that_changed_files", "source_change_unreported", "changed_source_accepted", "unfinished_deployments"];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        var image = SyntheticImage.Create(ImageSize, context.Random);
        var replacement = SyntheticImage.Create(ImageSize, context.Random);
        await using var rig = await ChaosRig.ImportAsync(context.Directory("rig"), image, ct);
        await rig.ServeAsync(ct);
        var layout = StateFileLayout.For(ImageSize);
        for (int run = 1; run <= runs; run++)
        {
            var deployment = new Deployment(context, rig, image, layout, context.Directory($"run-{run}"));
            await deployment.RunAsync(replaceWith: run % 3 == 2 ? replacement : null, ct);
            await rig.ForgetExitedAsync();
            context.RunFinished(run);
        }
    }

    /// <summary>One deployment: its target, state file, guest and ledger, through every kill and damage.</summary>
    private sealed partial class Deployment
    {
        private static readonly StateDamageKind[] Kinds = Enum.GetValues<StateDamageKind>();
        private static readonly TimeSpan LogTimeout = TimeSpan.FromSeconds(30);
        private readonly ChaosContext _context;
        private readonly ChaosRig _rig;
        private readonly SyntheticImage _image;
        private readonly StateFileLayout _layout;
        private readonly string _directory;
        private readonly string _target;
        private readonly string _export;
        private readonly WriteLedger _ledger = new();
        private readonly LedgerWriter _writer;
        private string[] _options = ["--bandwidth", Bandwidth];

        public Deployment(ChaosContext context, ChaosRig rig, SyntheticImage image, StateFileLayout layout, string directory)
        {
            _context = context;
            _rig = rig;
            _image = image;
            _layout = layout;
            _directory = directory;
            _target = Path.Combine(directory, "target.raw");
            _export = Path.Combine(directory, "agent.sock");
            _writer = new LedgerWriter(_ledger, image, context.Fork());
        }

        private string StatePath => _target + ".bmcast-state";

        /// <summary>The state file as it was before the last damage: what an operator would restore after a refusal.</summary>
        private string Undamaged => StatePath + ".undamaged";

        private ChaosTally Tally => _context.Tally;

        public async Task RunAsync(SyntheticImage? replaceWith, CancellationToken ct)
        {
            var random = _context.Random;
            if (replaceWith is not null)
                _options = ["--bandwidth", ReplacementBandwidth];
            int cuts = random.Next(1, 4);
            var damage = StateDamageKind.None;
            for (int cut = 0; ; cut++)
            {
                var (agent, reported) = await StartAsync(damage, ct);
                var client = await ConnectAsync(ct);
                try
                {
                    if (cut > 0)
                        await SettleAsync(client, damage, reported, $"after cut {cut} ({Snake(damage)})", ct);
                    else if (replaceWith is not null)
                    {
                        // At once: the guest's reads after each cut fetch most chunks on demand, and a complete
                        // deployment no longer asks its source for anything.
                        var (resumed, reconnected) = await ReplaceSourceAsync(agent, client, replaceWith, ct);
                        await client.DisposeAsync();
                        (agent, client) = (resumed, reconnected);
                        _options = ["--bandwidth", Bandwidth];
                    }
                    if (cut < cuts)
                    {
                        await WriteForAsync(client, random.Next(50, 1500), agent.KillHardAsync);
                        Tally.Add("cuts");
                        damage = Kinds[random.Next(Kinds.Length)];
                        await DamageAsync(damage, cut + 1, ct);
                        continue;
                    }
                    // The last stretch: the guest writes a little longer, then idles so the copy can finish.
                    await WriteForAsync(client, random.Next(50, 1000), () => Task.CompletedTask);
                    await ChaosRig.FinishAsync(Tally, new ChaosDeployment(_directory, _target, agent, client), _writer, ct);
                    return;
                }
                finally
                {
                    await client.DisposeAsync();
                }
            }
        }

        private Task<NbdClient> ConnectAsync(CancellationToken ct) => NbdClient.ConnectAsync(NbdUri.Create(NbdEndpoint.Unix(_export), ""), ct);

        /// <summary>The guest writes and flushes for <paramref name="milliseconds"/>, then <paramref name="end"/> (a kill) happens under it.</summary>
        private async Task WriteForAsync(NbdClient client, int milliseconds, Func<Task> end)
        {
            using var stop = new CancellationTokenSource();
            var writing = _writer.WriteUntilAsync(client, stop.Token);
            await Task.Delay(milliseconds);
            await end();
            await stop.CancelAsync();
            await writing;
        }

        /// <summary>Keep the state file as it is (for a refusal to fall back to), then damage it.</summary>
        private async Task DamageAsync(StateDamageKind damage, int cut, CancellationToken ct)
        {
            Tally.Add($"damage_{Snake(damage)}");
            if (File.Exists(StatePath))
                File.Copy(StatePath, Undamaged, overwrite: true);
            else
                File.Delete(Undamaged);
            string what = await StateFileDamage.ApplyAsync(damage, StatePath, _layout, _context.Random, ct);
            _context.Log.LogDebug("{Directory}: after cut {Cut}: {Damage}", _directory, cut, what);
        }

        /// <summary>
        /// Start the agent after <paramref name="damage"/>. A refusal must be one clear line that changes neither file;
        /// the campaign then restores the state file as it was before the damage, and the agent must start. Returns the
        /// running agent and whether it reported damage to its state file.
        /// </summary>
        private async Task<(BmcastProcess Agent, bool Reported)> StartAsync(StateDamageKind damage, CancellationToken ct)
        {
            var before = Fingerprint();
            var (agent, refused) = await _rig.TryStartAgentAsync(_rig.SourceUri, _target, _export, _options);
            if (refused is { } code)
            {
                Tally.Add("refused_after_damage");
                JudgeRefusal(agent, code, before, Snake(damage));
                if (!File.Exists(Undamaged))
                    throw new InvalidOperationException($"the agent refused to start and there is no state file to restore:\n{agent.Stderr}");
                File.Copy(Undamaged, StatePath, overwrite: true);
                agent = await _rig.StartAgentAsync(_rig.SourceUri, _target, _export, _options);
            }
            else if (damage != StateDamageKind.None)
                Tally.Add("resumed_after_damage");
            // Its warnings come before the line naming the export (one logger, in order), which may trail the event.
            for (var deadline = DateTime.UtcNow + LogTimeout; !agent.Stderr.Contains($"-> {_target}, exported on") && DateTime.UtcNow < deadline;)
                await Task.Delay(20, ct);
            bool reported = agent.Stderr.Contains("damaged page") || agent.Stderr.Contains("newest commit");
            if (reported)
                Tally.Add("damage_reported");
            return (agent, reported);
        }

        /// <summary>A refusal: exit code 1, a message naming the state file or the image, no stack trace, nothing changed.</summary>
        private void JudgeRefusal(BmcastProcess agent, int code, (string? Target, string? State) before, string after)
        {
            string error = agent.Stderr;
            if (code != 1 || error.Contains("   at ") || !error.Contains("state file"))
                Tally.Loss("unclear_refusals", $"{_directory}: after {after} the agent exited {code} with:\n    {error.Trim().Replace("\n", "\n    ")}");
            if (Fingerprint() != before)
                Tally.Loss("refusals_that_changed_files", $"{_directory}: after {after} the refused agent changed the target or the state file");
        }

        /// <summary>
        /// Read back every block the guest wrote, after a restart. A flushed write found lost is a loss unless the damage
        /// was of a kind the format cannot survive and the agent said so (then counted, and the block's content accepted
        /// from now on).
        /// </summary>
        private async Task SettleAsync(NbdClient client, StateDamageKind damage, bool reported, string when, CancellationToken ct)
        {
            var broken = await _writer.SettleAsync(client, ct);
            if (reported && !StateFileDamage.Survivable(damage))
            {
                foreach (var (block, verdict) in broken.Where(b => b.Verdict.Recognised))
                {
                    Tally.Add("blocks_lost_to_reported_damage");
                    _ledger.Settle(block, verdict.Found);
                }
                broken = [.. broken.Where(b => !b.Verdict.Recognised)];
            }
            LedgerVerdicts.Record(Tally, broken, $"in {_directory} {when}");
        }

        /// <summary>
        /// Replace the image behind the source's name while the agent streams and the guest writes: the agent must say
        /// so. A restart against the replaced image must then be refused without changing anything; with the image back,
        /// the deployment resumes with nothing lost. Returns the agent running after that, and a guest connection to it.
        /// </summary>
        private async Task<(BmcastProcess, NbdClient)> ReplaceSourceAsync(BmcastProcess agent, NbdClient client, SyntheticImage replacement, CancellationToken ct)
        {
            bool completeBefore = agent.Stdout.Contains("\"complete\"");
            await WriteForAsync(client, 0, async () =>
            {
                await _rig.ReplaceImageAsync(replacement, ct);
                Tally.Add("source_replacements");
                if (completeBefore)
                {
                    Tally.Add("source_replacements_after_completion");
                    return;
                }
                try
                {
                    await agent.WaitForEventAsync("source-changed", EventTimeout);
                }
                catch (TimeoutException)
                {
                    Tally.Loss("source_change_unreported", $"{_directory}: the image was replaced, and the agent said nothing in {EventTimeout.TotalSeconds:0} s");
                }
            });
            await agent.KillHardAsync();
            Tally.Add("cuts");

            var before = Fingerprint();
            var (again, refused) = await _rig.TryStartAgentAsync(_rig.SourceUri, _target, _export, _options);
            if (refused is { } code)
            {
                Tally.Add("replaced_source_refused");
                JudgeRefusal(again, code, before, "the source's image was replaced");
            }
            else
            {
                Tally.Loss("changed_source_accepted", $"{_directory}: the agent resumed the deployment from a source serving another image");
                await again.KillHardAsync();
            }
            await _rig.ReplaceImageAsync(_image, ct);
            var resumed = await _rig.StartAgentAsync(_rig.SourceUri, _target, _export, _options);
            var reconnected = await ConnectAsync(ct);
            await SettleAsync(reconnected, StateDamageKind.None, reported: false, "after the image came back", ct);
            return (resumed, reconnected);
        }

        /// <summary>Hashes of the target and the state file, to show a refusal changed neither.</summary>
        private (string? Target, string? State) Fingerprint() => (Hash(_target), Hash(StatePath));

        /// <summary>The file's SHA-256, or null when there is none.</summary>
        private static string? Hash(string path)
        {
            if (!File.Exists(path))
                return null;
            using var file = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(file));
        }

        /// <summary>BitmapOnesBothSlots as bitmap_ones_both_slots, for counter names.</summary>
        private static string Snake(StateDamageKind kind) => UpperCase().Replace(kind.ToString(), "_$1").TrimStart('_').ToLowerInvariant();

        [System.Text.RegularExpressions.GeneratedRegex("([A-Z])")]
        private static partial System.Text.RegularExpressions.Regex UpperCase();
    }
}
