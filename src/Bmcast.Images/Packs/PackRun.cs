namespace Bmcast.Images.Packs;

/// <summary>
/// Consecutive pieces of a read that lie back to back in one pack, to
/// be read with one <c>pread</c> (an import appends an image's chunks mostly in order: its workers append each as they
/// finish hashing it): <paramref name="Length"/> bytes from <paramref name="PackOffset"/> in
/// <paramref name="Pack"/>, going to <paramref name="At"/> in the reader's buffer. Empty when <paramref name="Pack"/>
/// is null.
/// </summary>
internal readonly record struct PackRun(PackFile? Pack, long PackOffset, int At, int Length)
{
    public static PackRun Of(in ChunkLocation chunk, in ChunkPart part) =>
        new(chunk.Pack, chunk.Offset + part.InChunk, part.At, part.Length);

    /// <summary>This run with <paramref name="part"/> (of the chunk at <paramref name="chunk"/>) added, when it follows on in the pack and in the buffer.</summary>
    public bool TryExtend(in ChunkLocation chunk, in ChunkPart part, out PackRun extended)
    {
        extended = this with { Length = Length + part.Length };
        return Pack is not null && chunk.Pack == Pack && chunk.Offset + part.InChunk == PackOffset + Length && part.At == At + Length;
    }
}
