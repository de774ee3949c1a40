using System.Security.Cryptography;
using Bmcast.Core.Manifests;

namespace Bmcast.Images;

/// <summary>
/// What <see cref="ImageImporter"/> and <see cref="ImageVerifier"/> need of a store beyond <see cref="IImageStore"/>:
/// the steps of an import (staging, chunk batches, signing, publication) and raw access to stored chunks.
/// </summary>
internal interface IStoreBackend : IImageStore
{
    /// <summary>A local directory for files an import converts before chunking them.</summary>
    string TemporaryDirectory { get; }

    /// <summary>Held for the whole import (the directory store's shared lock); disposing it ends the import.</summary>
    IDisposable BeginImport();

    IChunkBatch BeginBatch(int maxPendingChunks);

    ECDsa SigningKey();

    /// <summary>Publish a manifest whose chunks are all stored; returns the info as published and whether an image was replaced.</summary>
    (ImageInfo Published, bool Replaced) Publish(string name, Manifest manifest, ImageInfo info, bool replace);

    IStoredChunks StoredChunks { get; }
}

/// <summary>Chunks being added to a store by an import; thread-safe.</summary>
internal interface IChunkBatch : IDisposable
{
    long NewChunks { get; }

    long NewBytes { get; }

    /// <summary>Add a chunk unless the store or this batch already holds one with the same hash.</summary>
    void Add(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> data);

    /// <summary>Make every chunk added so far durable and part of the store.</summary>
    void Commit();
}

/// <summary>Stored chunks, for audits: where each is and its bytes.</summary>
internal interface IStoredChunks
{
    /// <summary>Null when the store does not have the chunk.</summary>
    StoredChunk? Locate(ReadOnlySpan<byte> hash);

    ChunkRead TryRead(ReadOnlySpan<byte> hash, int offsetInChunk, Span<byte> destination);

    /// <summary>Why each damaged pack was left out: their chunks read as missing.</summary>
    IReadOnlyList<string> Damaged { get; }
}
