using Bmcast.Engine.Sources;

namespace Bmcast.Engine;

/// <summary>A point-in-time view of a deployment, for progress displays and JSON events; <paramref name="Sources"/>: the bytes each source served.</summary>
public readonly record struct StreamingProgress(
    long TotalBytes,
    long PresentBytes,
    long BytesOnDemand,
    long BytesBackground,
    long ZeroChunks,
    long FetchFailures,
    long VerificationFailures,
    long GuestBytesWritten,
    TimeSpan Elapsed,
    IReadOnlyList<SourceTally> Sources)
{
    public double Fraction => TotalBytes == 0 ? 1 : (double)PresentBytes / TotalBytes;

    public static StreamingProgress Of(StreamingDisk disk, TimeSpan elapsed)
    {
        var s = disk.Statistics;
        long present = Math.Min(disk.Size, disk.Presence.PresentCount * disk.Geometry.BlockSize);
        return new StreamingProgress(disk.Size, present, s.BytesOnDemand, s.BytesBackground, s.ZeroChunks,
            s.FetchFailures, s.VerificationFailures, s.GuestBytesWritten, elapsed, disk.Sources.Tallies());
    }
}
