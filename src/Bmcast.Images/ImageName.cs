using System.Buffers;

namespace Bmcast.Images;

/// <summary>
/// Image names become directory names in the store and NBD export names on the wire, so they are
/// restricted to a portable, shell-safe alphabet and a bounded length.
/// </summary>
public static class ImageName
{
    public const int MaxLength = 128;
    private static readonly SearchValues<char> Allowed =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    public static bool IsValid(string name) =>
        name.Length is > 0 and <= MaxLength
        && !name.AsSpan().ContainsAnyExcept(Allowed)
        // A leading dot would allow "." and ".." and hide the directory from listings.
        && name[0] != '.';

    public static void Validate(string name)
    {
        if (!IsValid(name))
            throw new ImageStoreException(
                $"invalid image name '{name}': use 1-{MaxLength} characters from [A-Za-z0-9._-], not starting with '.'");
    }
}
