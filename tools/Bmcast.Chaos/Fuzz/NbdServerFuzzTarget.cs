using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Protocols.Transport;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// The real <see cref="NbdServer"/>, one in-memory connection per input (<see cref="NbdServerInputs"/>): the
/// input is sent and the client's side closed; the server must answer what it can and close by itself,
/// without logging an unexpected failure or writing to the read-only export.
/// </summary>
public sealed class NbdServerFuzzTarget : IFuzzTarget
{
    private const int ExportSize = 1 << 20;
    private readonly FailureCapturingLogger<NbdServer> _logger = new();
    private readonly MemoryBlockDevice _readOnly;
    private readonly NbdServer _server;

    public NbdServerFuzzTarget(Random random)
    {
        var image = new byte[ExportSize];
        // Data in the first half, zeroes after: block status has holes to describe.
        random.NextBytes(image.AsSpan(0, ExportSize / 2));
        _readOnly = new MemoryBlockDevice(image, writable: false);
        var scratch = new byte[ExportSize];
        var catalog = new MemoryExportCatalog()
            .Add("ro", () => _readOnly, "read-only image")
            .Add("rw", () => new MemoryBlockDevice(scratch, writable: true), "scratch disk");
        _server = new NbdServer(catalog, _logger);
    }

    public string Name => "nbd_server";

    public byte[] Generate(Random random) => NbdServerInputs.Generate(random);

    public async Task FeedAsync(byte[] input, CancellationToken ct)
    {
        long refusedBefore = _readOnly.RefusedWrites;
        var connection = new InMemoryConnection();
        var serving = ServeAsync(connection, ct);
        var client = connection.ClientSide;
        var draining = DrainAsync(client, ct);
        await client.Output.WriteAsync(input, ct);
        await client.Output.CompleteAsync();
        await serving;
        await draining;
        _logger.ThrowIfFailed();
        if (_readOnly.RefusedWrites > refusedBefore)
            throw new FuzzViolationException("the server passed a write to a read-only export");
    }

    public bool IsDocumented(Exception error) => false;

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task ServeAsync(InMemoryConnection connection, CancellationToken ct)
    {
        try
        {
            await _server.ServeAsync(connection.ServerSide, "fuzz", ct);
        }
        finally
        {
            // What closing the socket does: the client sees the end, the server stops reading.
            await connection.ServerSide.Output.CompleteAsync();
            await connection.ServerSide.Input.CompleteAsync();
        }
    }

    private static async Task DrainAsync(System.IO.Pipelines.IDuplexPipe client, CancellationToken ct)
    {
        while (true)
        {
            var result = await client.Input.ReadAsync(ct);
            client.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
                return;
        }
    }
}
