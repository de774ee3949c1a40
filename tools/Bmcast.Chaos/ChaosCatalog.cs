using Bmcast.Chaos.Fuzz;

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
        yield return new FuzzCampaign();
    }
}
