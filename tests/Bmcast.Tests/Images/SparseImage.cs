namespace Bmcast.Tests.Images;

/// <summary>
/// Builds a sparse raw test image: holes where nothing is written, explicit (allocated) zero runs,
/// and pseudo-random data, then hands back the exact expected content for comparison.
/// </summary>
public sealed class SparseImage
{
    private readonly string _path;
    private readonly byte[] _content;
    private readonly Random _random;

    public SparseImage(string path, long size, int seed = 1)
    {
        _path = path;
        _content = new byte[size];
        _random = new Random(seed);
        using var file = File.Create(path);
        file.SetLength(size);
    }

    public ReadOnlySpan<byte> Content => _content;

    public string Path => _path;

    public SparseImage Data(long offset, int length)
    {
        var bytes = new byte[length];
        _random.NextBytes(bytes);
        return Write(offset, bytes);
    }

    /// <summary>Zeros written as data, so the file system allocates them: the importer must still find them zero.</summary>
    public SparseImage Zeros(long offset, int length) => Write(offset, new byte[length]);

    public SparseImage Write(long offset, byte[] bytes)
    {
        using (var file = new FileStream(_path, FileMode.Open, FileAccess.Write))
        {
            file.Position = offset;
            file.Write(bytes);
        }
        bytes.CopyTo(_content, offset);
        return this;
    }
}
