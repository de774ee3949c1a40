namespace Bmcast.Engine;

/// <summary>
/// Where a chunk that is being brought in stands. A chunk with no fill is absent (some block not
/// present) or present (every block present, in the presence map); a fill takes it from absent to
/// present and then disappears.
/// </summary>
internal enum ChunkFillState
{
    /// <summary>Waiting for the source queue to let it read (background fetches wait for on-demand ones).</summary>
    Queued,
    /// <summary>Reading from the source and verifying; no lock held.</summary>
    Fetching,
    /// <summary>Writing the still-absent blocks under the chunk lock, then marking them present.</summary>
    Filling,
}
