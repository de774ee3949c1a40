namespace Bmcast.Tests.Support;

/// <summary>
/// A private scratch directory under /tmp (short, so unix socket paths fit), removed with everything
/// in it when the test ends, whatever its outcome.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine("/tmp", "bmcast-test-" + Guid.NewGuid().ToString("N")[..8]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
