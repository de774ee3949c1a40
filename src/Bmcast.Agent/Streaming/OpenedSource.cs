using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Agent.Streaming;

/// <summary>A connected source, the manifest that verifies it (null: unverified) and how to fetch its published boot profile.</summary>
public sealed record OpenedSource(IImageSource Source, Manifest? Manifest, Func<CancellationToken, Task<byte[]?>> FetchBootProfile);
