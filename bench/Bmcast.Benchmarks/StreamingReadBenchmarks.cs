using BenchmarkDotNet.Attributes;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Benchmarks;

/// <summary>
/// What the streaming layer costs once every block is present: reads through
/// <see cref="StreamingDisk"/> against the same reads straight from the target file (the baseline),
/// same offsets, same page-cached file. Allocations per read are reported too.
/// </summary>
[MemoryDiagnoser]
public class StreamingReadBenchmarks
{
    private const long DiskSize = 256L << 20;
    private string _directory = "";
    private FileBlockDevice _file = null!;
    private StreamingSession _session = null!;
    private FileImageSource _source = null!;
    private byte[] _buffer = [];
    private long[] _offsets = [];
    private int _next;

    [Params(4096, 65536, 1 << 20)]
    public int ReadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("bmcast-bench-").FullName;
        string image = Path.Combine(_directory, "image.raw");
        var bytes = new byte[DiskSize];
        new Random(1).NextBytes(bytes);
        File.WriteAllBytes(image, bytes);
        _source = new FileImageSource(image);
        _session = StreamingSession.OpenAsync(_source, null, Path.Combine(_directory, "target.raw"), Path.Combine(_directory, "state"),
            new StreamingOptions { IdleGap = TimeSpan.Zero }, NullLogger.Instance, default).GetAwaiter().GetResult();
        _session.RunToCompletionAsync(default).GetAwaiter().GetResult();
        _file = FileBlockDevice.Open(Path.Combine(_directory, "target.raw"), writable: false);
        _buffer = new byte[ReadSize];
        var random = new Random(2);
        _offsets = Enumerable.Range(0, 4096).Select(_ => random.NextInt64(DiskSize / ReadSize) * ReadSize).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _file.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _source.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "target file")]
    public ValueTask ReadTargetFile() => _file.ReadAsync(NextOffset(), _buffer, default);

    [Benchmark(Description = "streaming disk, all present")]
    public ValueTask ReadStreamingDisk() => _session.Disk.ReadAsync(NextOffset(), _buffer, default);

    private long NextOffset() => _offsets[_next++ & (_offsets.Length - 1)];
}
