using Bmcast.Chaos.Fuzz;
using Bmcast.Chaos.ServerMemory;
using Bmcast.Chaos.StateDamage;

namespace Bmcast.Chaos;

/// <summary>Every campaign of <c>bmcast chaos</c>, in the order its help lists them.</summary>
public static class ChaosCatalog
{
    public static IEnumerable<IChaosCampaign> All()
    {
        yield return new PowerCutCampaign();
        yield return new ServerRestartCampaign();
        yield return new CorruptSourceCampaign();
        yield return new DiskFaultsCampaign();
        yield return new StateDamageCampaign();
        yield return new ServerMemoryCampaign();
        yield return new FuzzCampaign();
    }
}
