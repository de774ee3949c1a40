using System.Buffers;
using System.Runtime.InteropServices;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Anonymous memory mapped for one use and unmapped on dispose, so it goes back to the system at once (a pooled or
/// garbage-collected array of tens of MiB stays resident long after the connection that needed it has gone).
/// </summary>
internal sealed unsafe partial class MappedMemory : MemoryManager<byte>
{
    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MapPrivate = 0x02;
    private const int MapAnonymous = 0x20;

    private readonly int _length;
    private nint _address;

    public MappedMemory(int length)
    {
        _length = length;
        _address = mmap(0, (nuint)length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_address == -1)
            throw new OutOfMemoryException($"could not map {length} bytes (errno {Marshal.GetLastPInvokeError()})");
    }

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_address == 0, this);
        return new Span<byte>((void*)_address, _length);
    }

    /// <summary>Mapped memory never moves: pinning is only a pointer.</summary>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(_address == 0, this);
        return new MemoryHandle((byte*)_address + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        if (_address == 0)
            return;
        munmap(_address, (nuint)_length);
        _address = 0;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc")]
    private static partial int munmap(nint address, nuint length);
}
