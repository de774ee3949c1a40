using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Core.Storage;

/// <summary>
/// A regular file or block device as an <see cref="IBlockDevice"/>: positional I/O on one handle,
/// FLUSH as fdatasync, zeroing by punching holes where the file system allows it. Failures are
/// <see cref="BlockDeviceException"/>s carrying the errno, so a full file system reaches an NBD
/// guest as ENOSPC rather than a generic I/O error.
/// </summary>
public sealed class FileBlockDevice : IBlockDevice
{
    private readonly SafeFileHandle _handle;
    private readonly bool _writable;

    private FileBlockDevice(SafeFileHandle handle, long size, bool writable)
    {
        _handle = handle;
        Size = size;
        _writable = writable;
    }

    public long Size { get; }

    public string? Path { get; private init; }

    public BlockDeviceCapabilities Capabilities => _writable
        ? BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.ForceUnitAccess
          | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.MultiConnection
        : BlockDeviceCapabilities.MultiConnection;

    /// <summary>Open an existing file. Its current length is the device size.</summary>
    public static FileBlockDevice Open(string path, bool writable)
    {
        var handle = File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read,
            FileShare.ReadWrite, FileOptions.None);
        return new FileBlockDevice(handle, RandomAccess.GetLength(handle), writable) { Path = path };
    }

    /// <summary>Open or create a file of exactly <paramref name="size"/> bytes (sparse when created).</summary>
    public static FileBlockDevice OpenOrCreate(string path, long size)
    {
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.None);
        long length = RandomAccess.GetLength(handle);
        if (length == 0 && size > 0)
            RandomAccess.SetLength(handle, size);
        else if (length != size)
        {
            handle.Dispose();
            throw new IOException($"{path} is {length} bytes, expected {size}: refusing to resize an existing target");
        }
        return new FileBlockDevice(handle, size, writable: true) { Path = path };
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        TryRead(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads are a synchronous <c>pread</c>: always at once.</summary>
    public bool TryRead(long offset, Span<byte> buffer)
    {
        try
        {
            ReadAll(offset, buffer);
        }
        catch (IOException e) when (e is not BlockDeviceException)
        {
            throw Failure("read", e);
        }
        return true;
    }

    /// <summary>The bytes are this file's, at the same offset.</summary>
    public bool TryLocateInFile(long offset, int length, out FilePosition position)
    {
        position = new FilePosition(_handle, offset);
        return true;
    }

    private void ReadAll(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0)
            {
                // Past end of a file that someone truncated: reads of a hole are zero.
                buffer[done..].Clear();
                break;
            }
            done += n;
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        try
        {
            RandomAccess.Write(_handle, data.Span, offset);
        }
        catch (IOException e) when (e is not BlockDeviceException)
        {
            throw Failure("write", e);
        }
        if (forceUnitAccess)
            Sync();
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Sync();
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        if (Native.fallocate(_handle, Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE, offset, length) != 0)
        {
            try
            {
                WriteZeroBuffers(offset, length);
            }
            catch (IOException e) when (e is not BlockDeviceException)
            {
                throw Failure("write", e);
            }
        }
        if (forceUnitAccess)
            Sync();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Holes from <c>lseek(SEEK_DATA/SEEK_HOLE)</c>: a hole reads as zeroes. Where the file system or device cannot
    /// tell, everything is data.
    /// </summary>
    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents)
    {
        long end = offset + length;
        int count = 0;
        while (offset < end && count < extents.Length)
        {
            long data = Native.lseek(_handle, offset, Native.SEEK_DATA);
            if (data < 0 && Marshal.GetLastPInvokeError() != Native.ENXIO)
                break; // Cannot tell: the rest is data.
            if (data < 0 || data > offset)
            {
                long holeEnd = data < 0 ? end : Math.Min(data, end);
                extents[count++] = new AllocationExtent(holeEnd - offset, AllocationFlags.Hole | AllocationFlags.Zero);
                offset = holeEnd;
                continue;
            }
            long hole = Native.lseek(_handle, offset, Native.SEEK_HOLE);
            long dataEnd = hole <= offset ? end : Math.Min(hole, end);
            extents[count++] = new AllocationExtent(dataEnd - offset, AllocationFlags.Allocated);
            offset = dataEnd;
        }
        if (count == 0)
            extents[count++] = new AllocationExtent(length, AllocationFlags.Allocated);
        else if (offset < end && count < extents.Length)
            extents[count++] = new AllocationExtent(end - offset, AllocationFlags.Allocated);
        return count;
    }

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }

    private void WriteZeroBuffers(long offset, long length)
    {
        var zeros = new byte[(int)Math.Min(length, 1 << 20)];
        for (long done = 0; done < length; done += zeros.Length)
            RandomAccess.Write(_handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)), offset + done);
    }

    /// <summary>.NET reports a failed system call as an IOException whose HResult is the errno.</summary>
    private BlockDeviceException Failure(string operation, IOException e)
    {
        int errno = e.HResult is > 0 and < 4096 ? e.HResult : BlockDeviceException.EIO;
        return new BlockDeviceException(errno, $"{operation} failed on {Path}: {e.Message}", e);
    }

    private void Sync()
    {
        if (Native.fdatasync(_handle) != 0)
            throw new BlockDeviceException(Marshal.GetLastPInvokeError(), $"fdatasync failed on {Path}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static partial class Native
    {
        public const int FALLOC_FL_KEEP_SIZE = 1;
        public const int FALLOC_FL_PUNCH_HOLE = 2;
        public const int SEEK_DATA = 3;
        public const int SEEK_HOLE = 4;
        public const int ENXIO = 6;

        [DllImport("libc", SetLastError = true)]
        public static extern long lseek(SafeFileHandle fd, long offset, int whence);

        [DllImport("libc", SetLastError = true)]
        public static extern int fdatasync(SafeFileHandle fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int fallocate(SafeFileHandle fd, int mode, long offset, long length);
    }
}
