using Bmcast.Core.Storage;

namespace Bmcast.Chaos;

/// <summary>
/// A guest request the export answered with an error: what it was, the blocks it covered, whether
/// every one of them already held an acknowledged write (so the write needed no new space), and the error.
/// </summary>
public sealed record RefusedRequest(string Command, long FirstBlock, int Blocks, bool Rewrite, BlockDeviceException Error);
