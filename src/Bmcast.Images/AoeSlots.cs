namespace Bmcast.Images;

/// <summary>How an image gets its AoE slot, the same in every store.</summary>
internal static class AoeSlots
{
    /// <summary>AoE slots 0 to 254 of one shelf (255 is the broadcast address).</summary>
    public const int Count = 255;

    /// <summary>
    /// The slot for an image published as <paramref name="name"/>: the one it has if it replaces an image of that name,
    /// else the next after the highest in use (so a removed image's number is not handed on at once to another, which
    /// a machine still reading the old one would then get), else the lowest free; null when all are taken.
    /// </summary>
    public static int? Choose(IReadOnlyList<ImageInfo> images, string name)
    {
        if (images.FirstOrDefault(i => i.Name == name) is { AoeSlot: { } kept })
            return kept;
        var used = images.Where(i => i.AoeSlot is not null).Select(i => i.AoeSlot!.Value).ToHashSet();
        int next = used.Count == 0 ? 0 : used.Max() + 1;
        if (next < Count)
            return next;
        for (int slot = 0; slot < Count; slot++)
            if (!used.Contains(slot))
                return slot;
        return null;
    }
}
