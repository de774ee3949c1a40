namespace Bmcast.Images.Packs;

/// <summary>The steps of writing a pack and of removing one that garbage collection replaced, in order (crash tests stop at each).</summary>
internal enum PackStep
{
    Created,
    Appended,
    PackDurable,
    IndexDurable,
    IndexRenamed,
    Published,
    /// <summary>A replaced pack's index is deleted (its chunks live on in newer packs); the pack file is still there.</summary>
    OldIndexRemoved,
    OldPackRemoved,
}
