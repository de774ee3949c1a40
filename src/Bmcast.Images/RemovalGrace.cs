namespace Bmcast.Images;

/// <summary>
/// The one removal rule of every store (docs/images.md, "Removal and the grace period"): <c>image rm</c> unpublishes at
/// once; garbage collection marks a pack it finds unreferenced and deletes it only in a collection at least the grace
/// period after the mark, so a server still serving a removed image (from a shared bucket, or from a directory store
/// shared over a network file system, where a deleted file does not stay readable to the other hosts) never reads a
/// deleted chunk. A pack live again loses its mark; imports do not reuse chunks of marked packs (they store them again),
/// so deleting a marked pack never takes a chunk a manifest published meanwhile needs.
/// </summary>
public static class RemovalGrace
{
    /// <summary>The default of <c>image rm</c> and <c>image gc</c> (<c>--grace</c>): longer than a deployment.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromHours(1);

    /// <summary>
    /// True when an unreferenced pack may be deleted now: it was marked at least <paramref name="grace"/> before
    /// <paramref name="now"/> (<paramref name="markedAt"/> null: found unreferenced only now, due at once with a zero grace).
    /// </summary>
    public static bool IsDue(DateTime? markedAt, DateTime now, TimeSpan grace) => now - (markedAt ?? now) >= grace;
}
