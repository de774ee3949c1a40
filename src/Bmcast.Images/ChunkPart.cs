namespace Bmcast.Images;

/// <summary>
/// The piece of a read that falls in one chunk: <paramref name="Length"/> bytes from <paramref name="InChunk"/> in
/// chunk <paramref name="Chunk"/>, going to <paramref name="At"/> in the reader's buffer.
/// </summary>
/// <param name="IsZero">The manifest records the chunk as all zeros (it is not stored).</param>
internal readonly record struct ChunkPart(long Chunk, int InChunk, int At, int Length, bool IsZero);
