using Microsoft.Win32.SafeHandles;

namespace Bmcast.Core.Storage;

/// <summary>An image in a local raw file as a streaming source (tests, benchmarks, a local mirror).</summary>
public sealed class FileImageSource : IImageSource
{
    private readonly SafeFileHandle _handle;

    public FileImageSource(string path)
    {
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Size = RandomAccess.GetLength(_handle);
        Description = "file://" + Path.GetFullPath(path);
    }

    public long Size { get; }

    public string Description { get; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer.Span[done..], offset + done);
            if (n == 0)
                throw new IOException($"{Description} ended at {offset + done}, before the {buffer.Length} bytes requested at {offset}");
            done += n;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }
}
