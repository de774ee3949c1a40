namespace Bmcast.Images.Packs;

/// <summary>Where a chunk's bytes are: a pack, the offset in it and the chunk's length.</summary>
public readonly record struct ChunkLocation(PackFile Pack, long Offset, int Length);
