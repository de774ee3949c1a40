using System.Diagnostics;
using System.Numerics;
using Bmcast.Core.Manifests;

namespace Bmcast.Images;

/// <summary>
/// Turns a disk image file into a stored image: converts non-raw formats with qemu-img into a sparse
/// temporary file inside the store, chunks and deduplicates the raw bytes, signs a manifest and
/// publishes it. Until the final rename nothing is visible; on failure temporary files are removed
/// and chunks the import added are collected when no other import is running.
/// </summary>
public sealed class ImageImporter(IImageStore store)
{
    private readonly IStoreBackend _store = (IStoreBackend)store; // every store is one of this assembly's
    private readonly int _chunksPerBatch = ChunkBatch.DefaultMaxPendingChunks;

    /// <summary>For tests: commit chunk batches more often, so small imports cross batch boundaries.</summary>
    internal ImageImporter(IImageStore store, int chunksPerBatch) : this(store) => _chunksPerBatch = chunksPerBatch;

    public async Task<ImportResult> ImportAsync(string sourcePath, ImportOptions options,
        Action<ImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ImageName.Validate(options.Name);
        if (options.ChunkSize is < Manifest.MinChunkSize or > Manifest.MaxChunkSize || !BitOperations.IsPow2(options.ChunkSize))
            throw new ImageStoreException(
                $"chunk size {options.ChunkSize} must be a power of two from {ByteSize.Format(Manifest.MinChunkSize)} to {ByteSize.Format(Manifest.MaxChunkSize)}");
        if (!File.Exists(sourcePath))
            throw new ImageStoreException($"no such file: {sourcePath}");
        if (!options.Force && _store.Exists(options.Name))
            throw new ImageExistsException(options.Name);

        long started = Stopwatch.GetTimestamp();
        ImportResult result;
        try
        {
            using (_store.BeginImport())
                result = await ImportLockedAsync(sourcePath, options, progress, cancellationToken);
        }
        catch (IOException e) when (e.HResult == LibC.ENOSPC)
        {
            throw new DiskFullException(_store.Location, e);
        }
        // What a failed or replaced import leaves (packs no manifest names) goes by gc after the grace period, as removed
        // images' chunks do (RemovalGrace); meanwhile a rerun of a failed import reuses the packs it published.
        return result with { Elapsed = Stopwatch.GetElapsedTime(started) };
    }

    private async Task<ImportResult> ImportLockedAsync(string sourcePath, ImportOptions options,
        Action<ImportProgress>? progress, CancellationToken cancellationToken)
    {
        var before = SourceFileState.Of(sourcePath);
        var format = options.Format == DiskImageFormat.Auto
            ? await QemuImg.DetectAsync(sourcePath, cancellationToken)
            : options.Format;
        await SourceImageCheck.CheckAsync(sourcePath, format, before.Size, cancellationToken);
        string? converted = null;
        try
        {
            string rawPath = sourcePath;
            if (format != DiskImageFormat.Raw)
            {
                progress?.Invoke(new ImportProgress(ImportPhase.Converting, 0, 0));
                converted = Path.Combine(_store.TemporaryDirectory, "convert-" + Guid.NewGuid().ToString("N") + ".raw");
                await QemuImg.ConvertToRawAsync(sourcePath, format, converted, cancellationToken);
                rawPath = converted;
            }
            return await ChunkAndPublishAsync(rawPath, sourcePath, before, format, options, progress, cancellationToken);
        }
        finally
        {
            if (converted is not null)
                File.Delete(converted);
        }
    }

    private async Task<ImportResult> ChunkAndPublishAsync(string rawPath, string sourcePath, SourceFileState before, DiskImageFormat format,
        ImportOptions options, Action<ImportProgress>? progress, CancellationToken cancellationToken)
    {
        using var source = File.OpenHandle(rawPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        long size = RandomAccess.GetLength(source);
        if (size == 0)
            throw new ImageStoreException($"{sourcePath} is empty");
        if (size > Manifest.MaxImageSize)
            throw new ImageStoreException($"{sourcePath} is larger than {ByteSize.Format(Manifest.MaxImageSize)}");
        // The manifest keeps one hash per chunk in a single array.
        if (Manifest.ChunkCountFor(size, options.ChunkSize) > Array.MaxLength / Manifest.HashSize)
            throw new ImageStoreException($"{sourcePath} has too many chunks of {ByteSize.Format(options.ChunkSize)}: use a larger --chunk-size");

        using var batch = _store.BeginBatch(_chunksPerBatch);
        var chunks = await Task.Run(() => ChunkIngest.Run(source, size, options.ChunkSize, batch,
            done => progress?.Invoke(new ImportProgress(ImportPhase.Chunking, done, size)), cancellationToken), cancellationToken);
        // A file written to while it was read would be stored as a mix of two versions.
        if (SourceFileState.Of(sourcePath).DifferenceFrom(before) is { } change)
            throw new ImageStoreException($"{sourcePath} changed while it was imported ({change}): nothing was stored; import it again once nothing writes to it");
        // Every chunk, and its name, must be durable before a manifest may refer to it.
        batch.Commit();

        using var key = _store.SigningKey();
        var manifest = Manifest.Create(size, options.ChunkSize, chunks.Zero, chunks.Hashes, key);
        var info = new ImageInfo(
            Name: options.Name,
            Size: size,
            ChunkSize: options.ChunkSize,
            ChunkCount: manifest.ChunkCount,
            ZeroChunkCount: manifest.ChunkCount - manifest.NonZeroChunkCount,
            StoredBytes: chunks.StoredBytes,
            SourceFormat: format.ToString().ToLowerInvariant(),
            SourceFile: Path.GetFullPath(sourcePath),
            Created: DateTimeOffset.UtcNow,
            RootHash: manifest.RootHashHex,
            KeyFingerprint: manifest.KeyFingerprint)
        {
            SourceSize = before.Size,
            SourceModified = before.Modified,
        };
        var (published, replaced) = _store.Publish(options.Name, manifest, info, options.Force);
        return new ImportResult(published, batch.NewChunks, batch.NewBytes, chunks.DataBytesRead, TimeSpan.Zero, replaced);
    }
}
