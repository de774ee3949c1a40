using Bmcast.Tests.Chaos;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// The AoE part of <c>bmcast chaos fuzz</c> at 10^5 frames: random, truncated and mutated frames against
/// each side's frame handler; nothing escapes, the target never writes, and the initiator completes
/// nothing it did not ask for (see AoeTargetFuzzTarget and AoeInitiatorFuzzTarget). Damaged manifest companions
/// for the initiator's manifest reader (AoeManifestFuzzTarget). Allocations are
/// measured process-wide, so this runs alone.
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public sealed class AoeFuzzTests
{
    private const int Frames = 100_000;

    [Fact(Timeout = 120_000)]
    public async Task Target_and_initiator_survive_garbage()
    {
        var tally = await FuzzRun.TargetsAsync(Frames, seed: 2024, "aoe_target", "aoe_initiator");

        Assert.False(tally.Lost, FuzzRun.Describe(tally, Frames));
        Assert.Equal(Frames / 2, tally["aoe_target"]);
        Assert.Equal(Frames / 2, tally["aoe_initiator"]);
    }

    [Fact(Timeout = 120_000)]
    public async Task Manifest_companion_reader_survives_damaged_devices()
    {
        const int Devices = 20_000;
        var tally = await FuzzRun.TargetsAsync(Devices, seed: 2025, "aoe_manifest");

        Assert.False(tally.Lost, FuzzRun.Describe(tally, Devices));
        Assert.Equal(Devices, tally["aoe_manifest"]);
        // Both outcomes are reached: devices refused with ManifestFormatException, and devices read as none or a manifest.
        Assert.InRange(tally["rejected"], 1, Devices - 1);
    }
}
