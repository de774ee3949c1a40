using System.Text;
using Bmcast.Chaos.Fuzz;
using Bmcast.Chaos.ServerMemory;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Protocols.Transport;

namespace Bmcast.Tests.Chaos;

/// <summary>
/// The NBD server fuzz target reaches the class of issue 15's defect 5 (a message built from client input past the
/// string limit: the server caught the exception, logged it and dropped the connection) and counts it as a crash.
/// </summary>
public sealed class NbdServerFuzzTargetTests
{
    [Fact]
    public void Generated_inputs_carry_names_and_queries_as_long_as_the_string_limit()
    {
        var random = new Random(15);
        byte[] longName = Encoding.ASCII.GetBytes(new string('x', NbdProtocol.MaxStringLength));
        byte[] longQuery = Encoding.ASCII.GetBytes("base:" + new string('q', NbdProtocol.MaxStringLength - 5));
        int names = 0, queries = 0;
        for (int i = 0; i < 5000; i++)
        {
            byte[] input = NbdServerInputs.Generate(random);
            names += input.AsSpan().IndexOf(longName) >= 0 ? 1 : 0;
            queries += input.AsSpan().IndexOf(longQuery) >= 0 ? 1 : 0;
        }
        Assert.True(names > 0 && queries > 0, $"{names} inputs with a {NbdProtocol.MaxStringLength}-byte export name, {queries} with such a query");
    }

    [Fact(Timeout = 30_000)]
    public async Task A_failure_the_server_only_logs_is_brought_back_as_a_crash()
    {
        var ct = TestContext.Current.CancellationToken;
        var logger = new FailureCapturingLogger<NbdServer>();
        var catalog = new MemoryExportCatalog().Add("bug", () => new BuggyDevice());
        await using var server = new NbdServer(catalog, logger);
        var connection = new InMemoryConnection();
        var serving = server.ServeAsync(connection.ServerSide, "fuzz", ct);

        await connection.ClientSide.Output.WriteAsync(HostileNbdClient.Handshake("bug"), ct);
        await connection.ClientSide.Output.CompleteAsync();
        await serving; // The server itself never throws for what a client sent: it logs, and closes.

        var failure = Assert.Throws<InvalidOperationException>(logger.ThrowIfFailed);
        Assert.Equal("a bug behind the export", failure.Message);
        // And the fuzz target counts whatever it rethrows as a crash: it documents no error of its own.
        await using var target = new NbdServerFuzzTarget(new Random(1));
        Assert.False(target.IsDocumented(failure));
    }

    /// <summary>A device with a bug the server does not expect (opening an export that fails is only a warning).</summary>
    private sealed class BuggyDevice : IBlockDevice
    {
        public long Size => 1 << 20;

        public BlockDeviceCapabilities Capabilities => throw new InvalidOperationException("a bug behind the export");

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask FlushAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
