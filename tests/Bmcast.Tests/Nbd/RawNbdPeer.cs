using System.Buffers;
using System.IO.Pipelines;
using Bmcast.Protocols.Nbd;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// Speaks NBD byte by byte to a server connection, so tests can send what no well-behaved client would
/// and check each reply exactly.
/// </summary>
internal sealed class RawNbdPeer(IDuplexPipe pipe)
{
    public async Task<NbdHandshakeFlags> GreetAsync(NbdClientFlags flags)
    {
        var greeting = await ReadExactlyAsync(NbdHandshakeCodec.GreetingSize);
        var buffer = new ReadOnlySequence<byte>(greeting);
        NbdHandshakeCodec.TryReadGreeting(ref buffer, out var serverFlags);
        var bytes = new byte[NbdHandshakeCodec.ClientFlagsSize];
        NbdHandshakeCodec.WriteClientFlags(bytes, flags);
        await SendAsync(bytes);
        return serverFlags;
    }

    public Task SendOptionAsync(NbdOption option, byte[] payload)
    {
        var bytes = new byte[NbdHandshakeCodec.OptionHeaderSize + payload.Length];
        NbdHandshakeCodec.WriteOptionHeader(bytes, option, payload.Length);
        payload.CopyTo(bytes, NbdHandshakeCodec.OptionHeaderSize);
        return SendAsync(bytes);
    }

    public async Task<(NbdOption Option, NbdOptionReply Type, byte[] Payload)> ReadOptionReplyAsync()
    {
        var header = await ReadExactlyAsync(NbdHandshakeCodec.OptionReplyHeaderSize);
        int length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        var whole = header.Concat(await ReadExactlyAsync(length)).ToArray();
        var buffer = new ReadOnlySequence<byte>(whole);
        NbdHandshakeCodec.TryReadOptionReply(ref buffer, out var option, out var type, out var payload);
        return (option, type, payload.ToArray());
    }

    /// <summary>OPT_GO for <paramref name="export"/>, returning the final reply type after any NBD_REP_INFO.</summary>
    public async Task<NbdOptionReply> GoAsync(string export)
    {
        var request = new byte[NbdHandshakeCodec.ExportRequestLength(export, 0)];
        NbdHandshakeCodec.WriteExportRequest(request, export, []);
        await SendOptionAsync(NbdOption.Go, request);
        while (true)
        {
            var reply = await ReadOptionReplyAsync();
            if (reply.Type != NbdOptionReply.Info)
                return reply.Type;
        }
    }

    public static byte[] Request(NbdCommand command, ulong cookie, ulong offset, uint length, NbdCommandFlags flags = 0, byte[]? payload = null)
    {
        var bytes = new byte[NbdTransmissionCodec.RequestSize + (payload?.Length ?? 0)];
        NbdTransmissionCodec.WriteRequest(bytes, new NbdRequest(flags, command, cookie, offset, length));
        payload?.CopyTo(bytes, NbdTransmissionCodec.RequestSize);
        return bytes;
    }

    public async Task SendAsync(byte[] bytes)
    {
        await pipe.Output.WriteAsync(bytes);
    }

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        if (count == 0)
            return [];
        while (true)
        {
            var result = await pipe.Input.ReadAsync();
            if (result.Buffer.Length >= count)
            {
                var bytes = result.Buffer.Slice(0, count).ToArray();
                pipe.Input.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }
            if (result.IsCompleted)
                throw new EndOfStreamException($"wanted {count} bytes, connection ended after {result.Buffer.Length}");
            pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Consume exactly <paramref name="count"/> bytes without keeping them.</summary>
    public async Task SkipAsync(long count)
    {
        while (count > 0)
        {
            var result = await pipe.Input.ReadAsync();
            long take = Math.Min(count, result.Buffer.Length);
            pipe.Input.AdvanceTo(result.Buffer.GetPosition(take));
            count -= take;
            if (result.IsCompleted && count > 0)
                throw new EndOfStreamException($"{count} bytes short");
        }
    }

    /// <summary>A simple reply to <paramref name="cookie"/>: its error (the payload of a successful read follows it).</summary>
    public async Task<NbdError> ReadSimpleReplyAsync(ulong cookie)
    {
        var bytes = await ReadExactlyAsync(NbdTransmissionCodec.SimpleReplySize);
        Assert.True(NbdTransmissionCodec.TryPeekReplyHeader(new(bytes), out var reply));
        Assert.False(reply.IsStructured);
        Assert.Equal(cookie, reply.Cookie);
        return reply.Error;
    }

    /// <summary>Signal end of input to the server.</summary>
    public ValueTask EndInputAsync() => pipe.Output.CompleteAsync();

    /// <summary>Discard whatever the server sends until it closes its side.</summary>
    public async Task DrainAsync()
    {
        while (true)
        {
            var result = await pipe.Input.ReadAsync();
            pipe.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
                return;
        }
    }

    /// <summary>True once the server has closed its side (nothing more will arrive).</summary>
    public async Task<bool> IsClosedAsync()
    {
        var result = await pipe.Input.ReadAsync();
        pipe.Input.AdvanceTo(result.Buffer.End);
        return result.IsCompleted && result.Buffer.IsEmpty;
    }
}
