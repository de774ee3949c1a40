using Bmcast.Images;

namespace Bmcast.Agent.ImageBuild;

/// <summary>Copies a disk image keeping its holes holes: a 4 GiB image with 1 GiB of data writes 1 GiB.</summary>
public static class SparseCopy
{
    public static async Task CopyAsync(string from, string to, bool replace, CancellationToken ct)
    {
        using var source = File.OpenHandle(from);
        long size = RandomAccess.GetLength(source);
        using var target = File.OpenHandle(to, replace ? FileMode.Create : FileMode.CreateNew, FileAccess.Write);
        RandomAccess.SetLength(target, size);
        var buffer = new byte[1 << 20];
        foreach (var range in SparseFile.DataRanges(source, size))
            for (long offset = range.Start; offset < range.End;)
            {
                int read = await RandomAccess.ReadAsync(source, buffer.AsMemory(0, (int)Math.Min(buffer.Length, range.End - offset)), offset, ct);
                await RandomAccess.WriteAsync(target, buffer.AsMemory(0, read), offset, ct);
                offset += read;
            }
    }
}
