using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>A half-open byte range [Start, End) of a file.</summary>
public readonly record struct FileRange(long Start, long End)
{
    public long Length => End - Start;
}

/// <summary>
/// Finds the allocated parts of a sparse file with lseek(SEEK_DATA/SEEK_HOLE), so an import reads a
/// 20 GiB image holding 1 GiB of data as 1 GiB, not 20. File systems without hole reporting make the
/// whole file one data range, which is correct, only slower.
/// </summary>
public static class SparseFile
{
    public static List<FileRange> DataRanges(SafeFileHandle file, long size)
    {
        var ranges = new List<FileRange>();
        long position = 0;
        while (position < size)
        {
            long dataStart = LibC.lseek(file, position, LibC.SEEK_DATA);
            if (dataStart < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.ENXIO)
                    break; // no data past position: the rest is a hole
                return [new FileRange(0, size)];
            }
            long holeStart = LibC.lseek(file, dataStart, LibC.SEEK_HOLE);
            if (holeStart < 0)
                return [new FileRange(0, size)];
            long end = Math.Min(holeStart, size);
            if (dataStart >= end)
                break;
            ranges.Add(new FileRange(dataStart, end));
            position = end;
        }
        return ranges;
    }
}
