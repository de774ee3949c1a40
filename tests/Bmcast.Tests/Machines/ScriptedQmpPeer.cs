using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Bmcast.Tests.Machines;

/// <summary>
/// A QMP server on a unix socket that plays QEMU's part in a disk pivot (nodes, a mirror job, its events) and fails
/// the command <see cref="Fail"/> names, or lets the mirror end with an error: the faults a real QEMU gives rarely.
/// Records every command it receives, in order.
/// </summary>
internal sealed class ScriptedQmpPeer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Task _serving;
    private bool _jobRunning;

    public ScriptedQmpPeer(string socketPath)
    {
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(1);
        _serving = ServeAsync();
    }

    /// <summary>The command refused with a GenericError (null: none).</summary>
    public string? Fail { get; init; }

    /// <summary>The mirror completes with this error instead of swapping.</summary>
    public string? MirrorError { get; init; }

    public List<(string Command, JsonObject? Arguments)> Received { get; } = [];

    private async Task ServeAsync()
    {
        using var connection = await _listener.AcceptAsync();
        await using var stream = new NetworkStream(connection);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        async Task SendAsync(JsonObject message) => await stream.WriteAsync(Encoding.UTF8.GetBytes(message.ToJsonString() + "\n"));
        JsonObject JobEvent(string name, string? error = null)
        {
            var data = new JsonObject { ["device"] = "bmcast-pivot", ["type"] = "mirror" };
            if (error is not null)
                data["error"] = error;
            return new JsonObject { ["event"] = name, ["data"] = data };
        }

        await SendAsync(new JsonObject { ["QMP"] = new JsonObject { ["version"] = new JsonObject(), ["capabilities"] = new JsonArray() } });
        while (await reader.ReadLineAsync() is { } line)
        {
            var request = JsonNode.Parse(line)!.AsObject();
            string command = request["execute"]!.GetValue<string>();
            var arguments = request["arguments"]?.DeepClone().AsObject();
            lock (Received)
                Received.Add((command, arguments));
            var id = request["id"]!.DeepClone();
            if (command == Fail || (command == "block-job-cancel" && !_jobRunning))
            {
                await SendAsync(new JsonObject { ["error"] = new JsonObject { ["class"] = "GenericError", ["desc"] = $"{command} refused" }, ["id"] = id });
                continue;
            }
            JsonNode result = command == "query-block-jobs"
                ? new JsonArray(_jobRunning ? [new JsonObject { ["device"] = "bmcast-pivot", ["type"] = "mirror" }] : [])
                : new JsonObject();
            await SendAsync(new JsonObject { ["return"] = result, ["id"] = id });
            switch (command)
            {
                case "blockdev-mirror":
                    _jobRunning = true;
                    await SendAsync(JobEvent("BLOCK_JOB_READY"));
                    break;
                case "block-job-complete":
                    _jobRunning = false;
                    await SendAsync(JobEvent("BLOCK_JOB_COMPLETED", MirrorError));
                    break;
                case "block-job-cancel":
                    _jobRunning = false;
                    await SendAsync(JobEvent("BLOCK_JOB_CANCELLED"));
                    break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        try
        {
            await _serving;
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
        }
    }
}
