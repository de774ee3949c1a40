using Bmcast.Core.Storage;

namespace Bmcast.TestKit.Devices;

/// <summary>
/// An in-memory disk with a volatile write cache, for power-cut tests: writes are visible at once
/// but durable only after FLUSH; <see cref="Crash"/> keeps a random subset of the unflushed writes
/// (in order), as a real disk cache may, and drops the rest.
///
/// With a <see cref="FaultRate"/> it is also a full or failing disk: a write may fail with ENOSPC or
/// EIO after storing a prefix of its data, and a flush may fail with EIO, either keeping the unflushed
/// writes for a later flush or dropping them as Linux does after a failed writeback: never durable,
/// and still visible or (evicted) reverted to their durable content.
/// </summary>
public sealed class CrashableDevice(long size, PowerRail? power = null, int faultSeed = 0) : IBlockDevice
{
    private readonly byte[] _durable = new byte[size];
    private readonly byte[] _visible = new byte[size];
    private readonly List<(long Offset, byte[] Data)> _unflushed = [];
    private readonly Lock _gate = new();
    private readonly Random _faults = new(faultSeed);

    public long Size => size;

    public BlockDeviceCapabilities Capabilities =>
        BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.WriteZeroes;

    public int FlushCount { get; private set; }

    /// <summary>Chance that a write or a flush fails.</summary>
    public double FaultRate { get; set; }

    public int FailedFlushes { get; private set; }

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
            if (Fails())
            {
                Store(offset, data[.._faults.Next(data.Length + 1)]);
                throw new BlockDeviceException(_faults.Next(2) == 0 ? BlockDeviceException.ENOSPC : BlockDeviceException.EIO, "injected write failure");
            }
            Store(offset, data);
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
        {
            if (Fails())
                FailFlushLocked();
            FlushLocked();
        }
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

    private bool Fails() => FaultRate > 0 && _faults.NextDouble() < FaultRate;

    private void Store(long offset, ReadOnlyMemory<byte> data)
    {
        data.Span.CopyTo(_visible.AsSpan((int)offset));
        _unflushed.Add((offset, data.ToArray()));
    }

    private void FailFlushLocked()
    {
        FailedFlushes++;
        switch (_faults.Next(3))
        {
            case 0:
                break;
            case 1:
                _unflushed.Clear();
                break;
            default:
                _unflushed.Clear();
                _durable.CopyTo(_visible, 0);
                break;
        }
        throw new BlockDeviceException(BlockDeviceException.EIO, "injected flush failure");
    }

    private void FlushLocked()
    {
        foreach (var (offset, data) in _unflushed)
            data.CopyTo(_durable.AsSpan((int)offset));
        _unflushed.Clear();
        FlushCount++;
    }
}
