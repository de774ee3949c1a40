namespace Bmcast.Tests.Nbd;

/// <summary>A private directory under /tmp (short, so unix socket paths fit), removed with everything in it.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine("/tmp", "bmcast-nbd-" + Guid.NewGuid().ToString("N")[..8]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
