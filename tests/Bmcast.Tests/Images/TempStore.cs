using Xunit;
using Bmcast.Images;

namespace Bmcast.Tests.Images;

/// <summary>A fresh image store plus a scratch directory for source files, deleted after the test.</summary>
public sealed class TempStore : IDisposable
{
    public TempStore()
    {
        Directory = Path.Combine(Path.GetTempPath(), "bmcast-test-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        Store = ImageStore.Open(Path.Combine(Directory, "store"));
    }

    public string Directory { get; }

    public ImageStore Store { get; }

    public string PathFor(string fileName) => Path.Combine(Directory, fileName);

    public Task<ImportResult> ImportAsync(string file, string name, int chunkSize = ImportOptions.DefaultChunkSize,
        DiskImageFormat format = DiskImageFormat.Raw) =>
        new ImageImporter(Store).ImportAsync(file, new ImportOptions(name, chunkSize, format), cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Distinct chunks the store holds (in packs, or chunk files before migration).</summary>
    public long StoredChunkCount() => Store.Chunks.Count;

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
