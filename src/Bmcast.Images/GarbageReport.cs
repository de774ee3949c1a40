namespace Bmcast.Images;

/// <summary>What a garbage collection of the chunk store did.</summary>
public sealed record GarbageReport(long ChunksRemoved, long BytesFreed, long ChunksKept);
