namespace Bmcast.Images;

/// <param name="Image">The new image's metadata.</param>
/// <param name="NewChunks">Chunks this import added to the store (the rest were already there).</param>
/// <param name="NewBytes">Bytes this import added to the store.</param>
/// <param name="DataBytesRead">Bytes read from the allocated parts of the (raw) source.</param>
/// <param name="Replaced">An image of the same name was replaced (--force).</param>
public sealed record ImportResult(ImageInfo Image, long NewChunks, long NewBytes, long DataBytesRead, TimeSpan Elapsed, bool Replaced);
