namespace Bmcast.Core.Storage;

/// <summary>An image held in memory as a source: for readers of small devices (a manifest companion) under test and fuzzing.</summary>
public sealed class MemoryImageSource(byte[] image, string description) : IImageSource
{
    public long Size => image.Length;

    public string Description { get; } = description;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        image.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
