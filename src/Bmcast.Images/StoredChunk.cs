namespace Bmcast.Images;

/// <summary>Where a stored chunk's bytes are: a file (a pack, or an old layout's chunk file), the offset and the length.</summary>
public sealed record StoredChunk(string Path, long Offset, int Length);
