using Bmcast.Core.Aoe;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// What an initiator reads from an image's AoE manifest companion, damaged: <see cref="AoeManifestReader"/> on the
/// device's bytes, then <see cref="Manifest.Decode"/> and the signature check on what it returns. Half the damage
/// lands in the frame header and the manifest's own header, where lengths are declared.
/// </summary>
public sealed class AoeManifestFuzzTarget(Random random) : IFuzzTarget
{
    private readonly List<(byte[] Manifest, byte[] Framed)> _seeds = ManifestFuzzTarget.CreateSeeds(random)
        .Select(seed => (seed.Encoded, CompanionFrame.Frame(seed.Encoded))).ToList();

    public string Name => "aoe_manifest";

    public byte[] Generate(Random random)
    {
        byte[] framed = _seeds[random.Next(_seeds.Count)].Framed;
        return Mutations.Mutate(framed, random, framed.Length + 1024, random.Next(2) == 0 ? ..(CompanionFrame.HeaderLength + 32) : null);
    }

    public async Task FeedAsync(byte[] input, CancellationToken ct)
    {
        byte[]? manifest = await AoeManifestReader.ReadAsync(new MemoryImageSource(input, "fuzz"), NullLogger.Instance, ct);
        if (manifest is null)
            return;
        if (manifest.Length > input.Length - CompanionFrame.HeaderLength)
            throw new FuzzViolationException($"a {input.Length}-byte device yielded a {manifest.Length}-byte manifest");
        if (Manifest.Decode(manifest).HasValidSignature() && !_seeds.Any(s => s.Manifest.AsSpan().SequenceEqual(manifest)))
            throw new FuzzViolationException("a damaged companion yielded a validly signed manifest other than the one framed");
    }

    public bool IsDocumented(Exception error) => error is ManifestFormatException;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
