using System.Collections.Concurrent;
using Bmcast.Core.Storage;

namespace Bmcast.Tests.Engine;

/// <summary>
/// A source whose every read (64 KiB chunks; chunk c reads as bytes c) waits until the test releases its first chunk;
/// <see cref="Started"/> records the first chunk of each read.
/// </summary>
internal sealed class GatedSource(long size) : IImageSource
{
    private readonly ConcurrentDictionary<long, TaskCompletionSource> _gates = new();

    public ConcurrentQueue<long> Started { get; } = new();

    public long Size => size;

    public string Description => "gated";

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        long chunk = offset / 65536;
        var gate = Gate(chunk);
        Started.Enqueue(chunk);
        await gate.Task.WaitAsync(cancellationToken);
        for (int offsetInRead = 0; offsetInRead < buffer.Length; offsetInRead += 65536)
            buffer.Span[offsetInRead..Math.Min(buffer.Length, offsetInRead + 65536)].Fill((byte)(chunk + offsetInRead / 65536));
    }

    public void Release(long chunk) => Gate(chunk).TrySetResult();

    public async Task WaitForReadsAsync(int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Started.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {Started.Count} of {count} source reads started");
            await Task.Delay(5, ct);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private TaskCompletionSource Gate(long chunk) =>
        _gates.GetOrAdd(chunk, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
