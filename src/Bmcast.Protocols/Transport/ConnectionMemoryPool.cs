using System.Buffers;

namespace Bmcast.Protocols.Transport;

/// <summary>
/// The buffers of every connection's pipes (and the NBD server's request data), from a pool of the process's own that keeps at most a few arrays of each
/// size. The shared array pool keeps what it lends until its periodic trim, which runs rarely under low memory
/// pressure: after hostile clients that asked for large reads and never read the replies, a server held well over
/// 100 MiB of idle pipe buffers for more than 30 s. Here at most <see cref="ArraysPerSize"/> arrays of each power-of-two
/// size up to <see cref="LargestPooled"/> stay (about 32 MiB in all); a buffer beyond that is allocated and left to
/// the collector.
/// </summary>
internal sealed class ConnectionMemoryPool : MemoryPool<byte>
{
    private const int LargestPooled = 2 << 20;
    private const int ArraysPerSize = 8;

    public static ConnectionMemoryPool Instance { get; } = new();

    /// <summary>The arrays behind the pool, also for request data the server holds outside the pipes (NBD read replies).</summary>
    public ArrayPool<byte> Arrays { get; } = ArrayPool<byte>.Create(LargestPooled, ArraysPerSize);

    public override int MaxBufferSize => int.MaxValue;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) =>
        new Lease(Arrays, Arrays.Rent(minBufferSize < 0 ? 4096 : minBufferSize));

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Lease(ArrayPool<byte> arrays, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } returned)
                arrays.Return(returned);
        }
    }
}
