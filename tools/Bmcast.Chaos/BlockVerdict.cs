namespace Bmcast.Chaos;

/// <summary>What a block was found to hold: a known write (0 = the image) that was allowed or not, or nothing recognisable.</summary>
public readonly record struct BlockVerdict(bool Recognised, bool Allowed, long Found, long Expected)
{
    public static BlockVerdict Unrecognised => new(false, false, -1, -1);

    public static BlockVerdict Kept(long found) => new(true, true, found, found);

    public static BlockVerdict Lost(long found, long expected) => new(true, false, found, expected);
}
