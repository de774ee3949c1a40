namespace Bmcast.Chaos.Fuzz;

/// <summary>Every target of <c>bmcast chaos fuzz</c>, each seeded from the campaign's random source.</summary>
public static class FuzzTargets
{
    public static async Task<IReadOnlyList<IFuzzTarget>> CreateAllAsync(ChaosContext context, CancellationToken ct)
    {
        var random = context.Random;
        return
        [
            new NbdServerFuzzTarget(random),
            new NbdClientFuzzTarget(context.Directory("nbd-client")),
            new AoeTargetFuzzTarget(random),
            await AoeInitiatorFuzzTarget.CreateAsync(random, ct),
            new AoeManifestFuzzTarget(random),
            new ManifestFuzzTarget(random),
            await PresenceStateFuzzTarget.CreateAsync(random, ct),
            new BootProfileFuzzTarget(context.Directory("boot-profile"), random),
        ];
    }
}
