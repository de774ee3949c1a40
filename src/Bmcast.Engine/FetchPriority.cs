namespace Bmcast.Engine;

/// <summary>Why a chunk is being fetched. On-demand fetches block a guest request and always go first.</summary>
public enum FetchPriority
{
    OnDemand,
    Background,
}
