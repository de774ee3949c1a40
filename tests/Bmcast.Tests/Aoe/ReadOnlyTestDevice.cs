using Bmcast.Core.Storage;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// A read-only in-memory device that counts any write attempt (the target must never make one) and
/// can fail every read, as a broken disk would.
/// </summary>
internal sealed class ReadOnlyTestDevice(byte[] data, bool failReads = false) : IBlockDevice
{
    public int Writes;

    public long Size => data.Length;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.MultiConnection;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (failReads)
            throw new IOException("injected read failure");
        data.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> bytes, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Writes);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Writes);
        return ValueTask.CompletedTask;
    }

    public bool Disposed { get; private set; }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }

    public static byte[] RandomData(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
