namespace Bmcast.Images;

/// <summary>The outcome of reading a stored chunk.</summary>
public enum ChunkRead
{
    Done,
    /// <summary>The store does not have the chunk.</summary>
    Missing,
    /// <summary>The stored chunk is shorter than the read asked for (cut short, or not the chunk the manifest means).</summary>
    Short,
}
