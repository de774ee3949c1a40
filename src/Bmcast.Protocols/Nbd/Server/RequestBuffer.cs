using Bmcast.Protocols.Transport;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// The data of one request: a READ's reply or a WRITE's payload. Up to 1 MiB (what clients ask in normal use) it comes from the
/// connections' bounded pool (<see cref="ConnectionMemoryPool"/>, not the shared array pool, which kept what hostile clients
/// made the server rent for a minute) and costs no allocation; larger ones are <see cref="MappedMemory"/>, returned to the system as soon as the reply is
/// sent: pooling 32 MiB arrays kept gigabytes resident after the hostile clients that made the server rent them left.
/// </summary>
internal readonly struct RequestBuffer : IDisposable
{
    private const int PooledLimit = 1 << 20;

    private readonly byte[]? _array;
    private readonly MappedMemory? _mapped;
    private readonly int _length;

    private RequestBuffer(byte[]? array, MappedMemory? mapped, int length)
    {
        _array = array;
        _mapped = mapped;
        _length = length;
    }

    public static RequestBuffer Rent(int length) => length <= PooledLimit
        ? new RequestBuffer(ConnectionMemoryPool.Instance.Arrays.Rent(length), null, length)
        : new RequestBuffer(null, new MappedMemory(length), length);

    public Memory<byte> Memory => _array is not null ? _array.AsMemory(0, _length) : _mapped!.Memory;

    public void Dispose()
    {
        if (_array is not null)
            ConnectionMemoryPool.Instance.Arrays.Return(_array);
        else
            ((IDisposable?)_mapped)?.Dispose();
    }
}
