using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Protocols.Transport;

namespace Bmcast.Tests.Nbd;

/// <summary>Our server serving one in-memory connection, seen from the test's end as a <see cref="RawNbdPeer"/>.</summary>
internal sealed class InMemoryServer
{
    private InMemoryServer(RawNbdPeer peer, Task serving)
    {
        Peer = peer;
        Serving = serving;
    }

    public RawNbdPeer Peer { get; }

    /// <summary>Completes when the server has finished with the connection (and closed its side).</summary>
    public Task Serving { get; }

    public static InMemoryServer Start(NbdServer server)
    {
        var cancellationToken = Xunit.TestContext.Current.CancellationToken;
        var connection = new InMemoryConnection();
        var serving = Task.Run(async () =>
        {
            try
            {
                await server.ServeAsync(connection.ServerSide, "in-memory", cancellationToken);
            }
            finally
            {
                await connection.ServerSide.Output.CompleteAsync();
                await connection.ServerSide.Input.CompleteAsync();
            }
        }, cancellationToken);
        return new InMemoryServer(new RawNbdPeer(connection.ClientSide), serving);
    }

    /// <summary>A catalog with a 1 MiB read-only "ro" (pattern bytes), a writable "rw", and a hidden "manifest:ro".</summary>
    public static MemoryExportCatalog SmallCatalog(out byte[] readOnlyData)
    {
        var ro = new byte[1 << 20];
        for (int i = 0; i < ro.Length; i++)
            ro[i] = (byte)(i * 7 + i / 4096);
        var rw = new byte[1 << 20];
        readOnlyData = ro;
        return new MemoryExportCatalog()
            .Add("ro", () => new MemoryBlockDevice(ro, writable: false), "read-only")
            .Add("rw", () => new MemoryBlockDevice(rw, writable: true), "writable")
            .Add(ExportNames.ManifestOf("ro"), () => new MemoryBlockDevice(ro[..100], writable: false), hidden: true);
    }
}
