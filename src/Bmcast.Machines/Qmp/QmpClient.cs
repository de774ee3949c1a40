using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Bmcast.Machines.Qmp;

/// <summary>
/// A QEMU Machine Protocol connection over a unix socket: one JSON object per line each way.
/// Commands carry an id and complete when the reply with that id arrives; asynchronous events
/// are queued for <see cref="WaitForEventAsync"/>. Capabilities are negotiated once at connect.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly Stream _stream;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Dictionary<long, TaskCompletionSource<JsonNode?>> _pending = [];
    private readonly Channel<QmpEvent> _events = Channel.CreateUnbounded<QmpEvent>();
    private readonly Task _receiveLoop;
    private long _nextId;

    private QmpClient(Socket socket, StreamReader reader, Stream stream)
    {
        _socket = socket;
        _reader = reader;
        _stream = stream;
        _receiveLoop = ReceiveLoopAsync();
    }

    /// <summary>Connect, read the greeting, leave capabilities negotiation mode.</summary>
    public static async Task<QmpClient> ConnectAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
            var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = new StreamReader(stream, Encoding.UTF8);
            string? greeting = await reader.ReadLineAsync(ct);
            if (greeting is null || JsonNode.Parse(greeting)?["QMP"] is null)
                throw new QmpException($"no QMP greeting on {socketPath}: {greeting}");
            var client = new QmpClient(socket, reader, stream);
            await client.ExecuteAsync("qmp_capabilities", null, ct);
            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Run a command; returns its <c>return</c> value or throws <see cref="QmpException"/> with QEMU's error.</summary>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        long id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending)
            _pending[id] = reply;
        var message = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments is not null)
            message["arguments"] = arguments;
        byte[] line = Encoding.UTF8.GetBytes(message.ToJsonString() + "\n");
        await _sendLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(line, ct);
        }
        finally
        {
            _sendLock.Release();
        }
        try
        {
            return await reply.Task.WaitAsync(ct);
        }
        catch (QmpException e)
        {
            throw new QmpException($"{command}: {e.Message}");
        }
    }

    /// <summary>The next event named <paramref name="name"/> whose data satisfies <paramref name="match"/>; other events are dropped.</summary>
    public async Task<QmpEvent> WaitForEventAsync(string name, Func<JsonNode?, bool>? match, CancellationToken ct)
    {
        await foreach (var e in _events.Reader.ReadAllAsync(ct))
            if (e.Name == name && (match is null || match(e.Data)))
                return e;
        throw new QmpException($"QMP connection closed while waiting for {name}");
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Shutdown(SocketShutdown.Both);
        _socket.Dispose();
        try
        {
            await _receiveLoop;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }
        _reader.Dispose();
        _sendLock.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (await _reader.ReadLineAsync() is { } line)
                Dispatch(JsonNode.Parse(line)?.AsObject() ?? throw new QmpException($"malformed QMP message: {line}"));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            _events.Writer.TryComplete();
            lock (_pending)
            {
                foreach (var pending in _pending.Values)
                    pending.TrySetException(new QmpException("QMP connection closed"));
                _pending.Clear();
            }
        }
    }

    private void Dispatch(JsonObject message)
    {
        if (message["event"] is { } name)
        {
            _events.Writer.TryWrite(new QmpEvent(name.GetValue<string>(), message["data"]));
            return;
        }
        if (message["id"] is not { } idNode)
            return;
        long id = idNode.GetValue<long>();
        TaskCompletionSource<JsonNode?>? reply;
        lock (_pending)
            _pending.Remove(id, out reply);
        if (reply is null)
            return;
        if (message["error"] is { } error)
            reply.TrySetException(new QmpException($"{error["class"]}: {error["desc"]}"));
        else
            reply.TrySetResult(message["return"]);
    }
}

public sealed record QmpEvent(string Name, JsonNode? Data);

/// <summary>QEMU refused a command or the QMP connection failed.</summary>
public sealed class QmpException(string message) : Exception(message);
