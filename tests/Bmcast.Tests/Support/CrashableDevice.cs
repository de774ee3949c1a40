using Bmcast.Core.Storage;

namespace Bmcast.Tests.Support;

/// <summary>
/// An in-memory disk with a volatile write cache, for power-cut tests: writes are visible at once
/// but durable only after FLUSH; <see cref="Crash"/> keeps a random subset of the unflushed writes
/// (in order), as a real disk cache may, and drops the rest.
/// </summary>
public sealed class CrashableDevice(long size, PowerRail? power = null) : IBlockDevice
{
    private readonly byte[] _durable = new byte[size];
    private readonly byte[] _visible = new byte[size];
    private readonly List<(long Offset, byte[] Data)> _unflushed = [];
    private readonly Lock _gate = new();

    public long Size => size;

    public BlockDeviceCapabilities Capabilities =>
        BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.WriteZeroes;

    public int FlushCount { get; private set; }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        lock (_gate)
            _visible.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
    {
        power?.Consume();
        lock (_gate)
        {
            data.Span.CopyTo(_visible.AsSpan((int)offset));
            _unflushed.Add((offset, data.ToArray()));
            if (forceUnitAccess)
                FlushLocked();
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) =>
        WriteAsync(offset, new byte[length], forceUnitAccess, ct);

    public ValueTask FlushAsync(CancellationToken ct)
    {
        power?.Consume();
        lock (_gate)
            FlushLocked();
        return ValueTask.CompletedTask;
    }

    /// <summary>Power cut: keep each unflushed write with probability one half, then lose the cache.</summary>
    public void Crash(Random random)
    {
        lock (_gate)
        {
            foreach (var (offset, data) in _unflushed)
                if (random.Next(2) == 0)
                    data.CopyTo(_durable.AsSpan((int)offset));
            _unflushed.Clear();
            _durable.CopyTo(_visible, 0);
        }
    }

    public byte[] Snapshot()
    {
        lock (_gate)
            return (byte[])_visible.Clone();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void FlushLocked()
    {
        foreach (var (offset, data) in _unflushed)
            data.CopyTo(_durable.AsSpan((int)offset));
        _unflushed.Clear();
        FlushCount++;
    }
}
