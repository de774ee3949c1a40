using Bmcast.Core.Blocks;
using Bmcast.Core.Storage;
using Bmcast.Engine;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// <see cref="PresenceStateFile.LoadAsync"/> on damaged state files: header fields, bitmap pages, cut short or
/// grown. Bitmap damage may load (any bit pattern is a state); everything else must be refused.
/// </summary>
public sealed class PresenceStateFuzzTarget : IFuzzTarget
{
    // Two bitmap pages, the second partly past the last block, so padding bits get damaged too.
    private static readonly DiskGeometry Geometry = new(200L << 20);
    private readonly byte[] _identity;
    private readonly byte[] _valid;

    private PresenceStateFuzzTarget(byte[] valid, byte[] identity)
    {
        _valid = valid;
        _identity = identity;
    }

    public static async Task<PresenceStateFuzzTarget> CreateAsync(Random random, CancellationToken ct)
    {
        var identity = new byte[PresenceStateFile.IdentitySize];
        random.NextBytes(identity);
        var bytes = new byte[PresenceStateFile.SizeFor(Geometry)];
        var state = await PresenceStateFile.CreateAsync(new MemoryBlockDevice(bytes, writable: true), Geometry, identity, ct);
        for (int i = 0; i < 1000; i++)
            state.Map.MarkPresent(random.NextInt64(Geometry.BlockCount), 1);
        await state.CommitAsync(new MemoryBlockDevice([], writable: true), forGuest: false, ct);
        return new PresenceStateFuzzTarget(bytes, identity);
    }

    public string Name => "presence_state";

    public byte[] Generate(Random random) =>
        Mutations.Mutate(_valid, random, _valid.Length + 4096, random.Next(2) == 0 ? ..64 : null);

    public async Task FeedAsync(byte[] input, CancellationToken ct)
    {
        var state = await PresenceStateFile.LoadAsync(new MemoryBlockDevice(input, writable: false), Geometry, _identity, ct);
        // Bits past the last block are padding: they must not make the disk look more complete than it can be.
        if (state.Map.PresentCount > Geometry.BlockCount)
            throw new FuzzViolationException($"a loaded state claims {state.Map.PresentCount} of {Geometry.BlockCount} blocks present");
    }

    public bool IsDocumented(Exception error) => error is InvalidDataException;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
