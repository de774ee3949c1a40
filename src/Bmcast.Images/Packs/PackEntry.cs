namespace Bmcast.Images.Packs;

/// <summary>One chunk in a pack: its hash, where its bytes start in the pack file, and how many there are.</summary>
public readonly record struct PackEntry(ChunkKey Key, long Offset, int Length);
