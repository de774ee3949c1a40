using Bmcast.Core.Storage;

namespace Bmcast.Engine.Sources;

/// <summary>
/// One source of a <see cref="SourceSet"/> and what the set knows of it: fetches in flight, verified bytes it served,
/// whether it is down and how many times in a row it failed (its retry backoff). Mutable state is written only under
/// the set's gate.
/// </summary>
public sealed class SourceMember
{
    internal SourceMember(IImageSource source)
    {
        Source = source;
        Tag = new KeyValuePair<string, object?>("source", source.Description);
    }

    public IImageSource Source { get; }

    public string Uri => Source.Description;

    /// <summary>Fetches handed to it and not yet reported back.</summary>
    public int Outstanding { get; internal set; }

    /// <summary>Verified bytes it served.</summary>
    public long Bytes { get; internal set; }

    /// <summary>Out of the spreading until a retry (a probe) reaches it again.</summary>
    public bool Down { get; internal set; }

    /// <summary>Why it last failed, for the message when every source is down.</summary>
    internal string LastProblem { get; set; } = "";

    /// <summary>Failures since its last verified fetch: the exponent of its retry backoff.</summary>
    internal int ConsecutiveFailures { get; set; }

    /// <summary>Its metrics tag, made once so recording allocates nothing.</summary>
    internal KeyValuePair<string, object?> Tag { get; }
}
