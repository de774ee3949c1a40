using System.Buffers;

namespace Bmcast.Protocols.Nbd;

/// <summary>
/// Gives a fixed-size header as one span: a slice of the first segment when it fits (the common case),
/// otherwise a copy into the caller's scratch space.
/// </summary>
internal static class SequenceHeader
{
    public static bool TryPeek(in ReadOnlySequence<byte> buffer, Span<byte> scratch, out ReadOnlySpan<byte> header)
    {
        if (buffer.FirstSpan.Length >= scratch.Length)
        {
            header = buffer.FirstSpan[..scratch.Length];
            return true;
        }
        if (buffer.Length < scratch.Length)
        {
            header = default;
            return false;
        }
        buffer.Slice(0, scratch.Length).CopyTo(scratch);
        header = scratch;
        return true;
    }
}
