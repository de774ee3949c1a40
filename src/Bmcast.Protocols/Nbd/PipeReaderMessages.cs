using System.Buffers;
using System.IO.Pipelines;

namespace Bmcast.Protocols.Nbd;

/// <summary>A codec Try-function: false = need more bytes; on success <paramref name="buffer"/> is sliced past the message.</summary>
internal delegate bool MessageParser<T>(ref ReadOnlySequence<byte> buffer, out T message);

internal static class PipeReaderMessages
{
    /// <summary>
    /// Read until <paramref name="parse"/> yields one message. The message must not refer to the pipe's buffer
    /// (copy payloads): the buffer is released before returning.
    /// </summary>
    public static async ValueTask<T> ReadMessageAsync<T>(this PipeReader reader, MessageParser<T> parse, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            bool parsed = false;
            T message = default!;
            try
            {
                parsed = parse(ref buffer, out message);
            }
            finally
            {
                reader.AdvanceTo(buffer.Start, parsed ? buffer.Start : buffer.End);
            }
            if (parsed)
                return message;
            if (result.IsCompleted)
                throw new EndOfStreamException("the peer closed the connection");
        }
    }
}
