namespace Bmcast.Engine.Sources;

/// <summary>One source at a moment, for progress events: its URI, the verified bytes it served, and whether it is down.</summary>
public readonly record struct SourceTally(string Uri, long Bytes, bool Down);
