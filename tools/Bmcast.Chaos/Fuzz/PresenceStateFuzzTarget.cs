using Bmcast.Core.Blocks;
using Bmcast.Core.Presence;
using Bmcast.Core.Storage;
using Bmcast.Engine;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// <see cref="PresenceStateFile.LoadAsync"/> on damaged state files (format 2): header fields, slot table, bitmap
/// pages, cut short or grown. Header damage and a cut must be refused; damage to a page or the slot table fails that
/// page's slot checksums, and without a manifest to re-verify against (as here) such a page loads empty. So a state
/// that loads never claims a block the committed state did not (no chunk claimed that does not hold its data), and
/// padding bits past the last block never count.
/// </summary>
public sealed class PresenceStateFuzzTarget : IFuzzTarget
{
    // Two bitmap pages, the second partly past the last block, so padding bits get damaged too.
    private static readonly DiskGeometry Geometry = new(200L << 20);
    private readonly byte[] _identity;
    private readonly byte[] _valid;
    private readonly PresenceMap _committed;

    private PresenceStateFuzzTarget(byte[] valid, byte[] identity, PresenceMap committed)
    {
        _valid = valid;
        _identity = identity;
        _committed = committed;
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
        return new PresenceStateFuzzTarget(bytes, identity, state.Map);
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
        for (long block = 0; block < Geometry.BlockCount; block++)
            if (state.Map.IsPresent(block) && !_committed.IsPresent(block))
                throw new FuzzViolationException($"a damaged state file loaded claiming block {block}, which the committed state never claimed");
    }

    public bool IsDocumented(Exception error) => error is InvalidDataException;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
