namespace Bmcast.Images;

/// <param name="Name">Name of the new image.</param>
/// <param name="ChunkSize">Power of two from 4 KiB to 16 MiB.</param>
/// <param name="Force">Replace an existing image of the same name.</param>
public sealed record ImportOptions(
    string Name,
    int ChunkSize = ImportOptions.DefaultChunkSize,
    DiskImageFormat Format = DiskImageFormat.Auto,
    bool Force = false)
{
    public const int DefaultChunkSize = 64 * 1024;
}
