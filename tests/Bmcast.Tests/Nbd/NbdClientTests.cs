using Bmcast.Tests.Support;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>Our client against our server: every command, errors, concurrency, hidden exports.</summary>
public sealed class NbdClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 30_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reads_writes_zeroes_flushes_and_maps(bool unixSocket)
    {
        await using var env = await PeerEnvironment.StartAsync(unixSocket);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse(env.Server.Uri("scratch")), Ct);
        Assert.Equal(PeerEnvironment.ImageSize, client.Size);
        Assert.True(client.Export is { StructuredReplies: true, BlockStatus: true, IsReadOnly: false, MaximumPayload: NbdProtocol.MaxPayload });

        await client.WriteAsync(0, env.Image, cancellationToken: Ct);
        await client.WriteZeroesAsync(4096, 8192, forceUnitAccess: true, Ct);
        await client.FlushAsync(Ct);

        var expected = env.Image.ToArray();
        expected.AsSpan(4096, 8192).Clear();
        var read = new byte[env.Image.Length];
        await client.ReadAsync(0, read, Ct);
        Assert.Equal(expected, read);
        Assert.Equal(expected, File.ReadAllBytes(env.ScratchPath));

        var extents = await client.BlockStatusAsync(0, client.Size, Ct);
        Assert.Equal(client.Size, extents.Sum(e => e.Length)); // FileBlockDevice: one allocated extent.
    }

    /// <summary>
    /// Reads of a file the kernel sends itself (<c>sendfile</c>, plaintext only): many at once, so the socket fills and
    /// what it has no room for goes through the pipe, each reply still whole, in step and byte-identical.
    /// </summary>
    [Theory(Timeout = 30_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Concurrent_large_reads_sent_from_the_file_are_whole_and_in_step(bool unixSocket)
    {
        await using var env = await PeerEnvironment.StartAsync(unixSocket);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse(env.Server.Uri("disk")), Ct);
        const int Length = 256 << 10;
        var random = new Random(5);
        var offsets = Enumerable.Range(0, 64).Select(_ => random.NextInt64(PeerEnvironment.ImageSize - Length)).ToArray();
        var reads = offsets.Select(async offset =>
        {
            var read = new byte[Length];
            await client.ReadAsync(offset, read, Ct);
            return (offset, read);
        }).ToArray();
        foreach (var (offset, read) in await Task.WhenAll(reads))
            Assert.True(read.AsSpan().SequenceEqual(env.Image.AsSpan((int)offset, Length)), $"read at {offset}");
    }

    [Fact(Timeout = 30_000)]
    public async Task Block_status_reports_holes()
    {
        await using var env = await PeerEnvironment.StartAsync(unixSocket: false);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse(env.Server.Uri("sparse")), Ct);

        var extents = await client.BlockStatusAsync(0, client.Size, Ct);

        Assert.Equal([new(1 << 20, AllocationFlags.Allocated), new(1 << 20, AllocationFlags.Hole | AllocationFlags.Zero),
            new(512 << 10, AllocationFlags.Allocated), new(3 << 19, AllocationFlags.Hole | AllocationFlags.Zero)], extents);
    }

    [Fact(Timeout = 30_000)]
    public async Task Server_errors_become_io_exceptions_with_the_errno()
    {
        await using var env = await PeerEnvironment.StartAsync(unixSocket: false);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse(env.Server.Uri("disk")), Ct);
        Assert.True(client.Export.IsReadOnly);

        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => client.WriteAsync(0, new byte[512], cancellationToken: Ct).AsTask());
        Assert.Equal(BlockDeviceException.EPERM, error.Errno);

        // The connection stays usable after an error reply.
        var bytes = new byte[512];
        await client.ReadAsync(0, bytes, Ct);
        Assert.Equal(env.Image[..512], bytes);

        var unknown = await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ConnectAsync(NbdUri.Parse(env.Server.Uri("missing")), Ct));
        Assert.Equal(NbdOptionReply.ErrUnknown, unknown.Reply);
        Assert.Contains("ErrUnknown", unknown.Message);
    }

    [Fact(Timeout = 30_000)]
    public async Task Device_failures_reach_the_client_as_their_errno()
    {
        var catalog = new MemoryExportCatalog().Add("failing", () => new FailingBlockDevice());
        await using var server = await TestServer.StartAsync(catalog);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(server.Endpoint, "failing"), Ct);

        var read = await Assert.ThrowsAsync<BlockDeviceException>(() => client.ReadAsync(0, new byte[4096], Ct).AsTask());
        var write = await Assert.ThrowsAsync<BlockDeviceException>(() => client.WriteAsync(0, new byte[4096], cancellationToken: Ct).AsTask());
        var flush = await Assert.ThrowsAsync<BlockDeviceException>(() => client.FlushAsync(Ct).AsTask());

        Assert.Equal((BlockDeviceException.EIO, BlockDeviceException.ENOSPC, BlockDeviceException.EIO), (read.Errno, write.Errno, flush.Errno));
        Assert.Contains("disk on fire", read.Message); // The server's message travels in the structured error chunk.
        Assert.Equal(3, server.Logger.Warnings);
    }

    [Fact(Timeout = 30_000)]
    public async Task Lists_exports_and_reads_a_hidden_one_whole()
    {
        await using var env = await PeerEnvironment.StartAsync(unixSocket: true);

        var exports = await NbdClient.ListExportsAsync(env.Server.Endpoint, Ct);
        var manifest = await NbdClient.ReadExportAsync(NbdUri.Create(env.Server.Endpoint, ExportNames.ManifestOf("disk")), 1 << 20, Ct);

        Assert.Equal(["disk", "scratch", "sparse"], exports.Select(e => e.Name));
        Assert.Equal("the source image", exports[0].Description);
        Assert.Equal(PeerEnvironment.ManifestBytes, manifest);
    }

    [Fact(Timeout = 30_000)]
    public async Task Replies_overtake_a_blocked_read_and_many_requests_run_at_once()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var data = PeerEnvironment.CreateImage();
        var catalog = new MemoryExportCatalog().Add("slow", () => new GatedBlockDevice(new MemoryBlockDevice(data, writable: false), gatedOffset: 0, release.Task));
        await using var server = await TestServer.StartAsync(catalog);
        await using var source = await NbdImageSource.OpenAsync(NbdUri.Create(server.Endpoint, "slow"), cancellationToken: Ct);

        var blocked = source.ReadAsync(0, new byte[4096], Ct).AsTask();
        var reads = Enumerable.Range(1, 200).Select(async i =>
        {
            var buffer = new byte[4096 + i];
            await source.ReadAsync(i * 17_000, buffer, Ct);
            Assert.Equal(data.AsSpan(i * 17_000, buffer.Length).ToArray(), buffer);
        });
        await Task.WhenAll(reads).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.False(blocked.IsCompleted);

        release.SetResult();
        await blocked.WaitAsync(TimeSpan.FromSeconds(5), Ct);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_cancelled_read_leaves_the_buffer_alone_and_the_connection_usable()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var data = PeerEnvironment.CreateImage();
        var catalog = new MemoryExportCatalog().Add("slow", () => new GatedBlockDevice(new MemoryBlockDevice(data, writable: false), gatedOffset: 0, release.Task));
        await using var server = await TestServer.StartAsync(catalog);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(server.Endpoint, "slow"), Ct);

        var abandoned = new byte[4096];
        using var cancel = new CancellationTokenSource();
        var read = client.ReadAsync(0, abandoned, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);

        release.SetResult(); // The server now answers the abandoned read; the client must drop that data.
        var next = new byte[4096];
        await client.ReadAsync(0, next, Ct);
        Assert.Equal(data[..4096], next);
        Assert.All(abandoned, b => Assert.Equal(0, b));
    }

    [Fact(Timeout = 30_000)]
    public async Task Large_reads_are_split_within_the_maximum_payload()
    {
        var data = new byte[NbdProtocol.MaxPayload * 2 + 12345];
        new Random(7).NextBytes(data);
        await using var server = await TestServer.StartAsync(new MemoryExportCatalog().Add("big", () => new MemoryBlockDevice(data, writable: false)));
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(server.Endpoint, "big"), Ct);

        var read = new byte[data.Length];
        await client.ReadAsync(0, read, Ct);

        Assert.Equal(data, read);
    }

    [Fact(Timeout = 30_000)]
    public async Task Disconnects_fail_outstanding_and_later_requests_cleanly()
    {
        var never = new TaskCompletionSource();
        var catalog = new MemoryExportCatalog().Add("stuck", () => new GatedBlockDevice(new MemoryBlockDevice(new byte[65536], writable: false), 0, never.Task));
        var server = await TestServer.StartAsync(catalog);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(server.Endpoint, "stuck"), Ct);

        var pending = client.ReadAsync(0, new byte[512], Ct).AsTask();
        await server.DisposeAsync(); // Cancels the stuck read and closes the connection.

        await Assert.ThrowsAnyAsync<IOException>(() => pending.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        await Assert.ThrowsAnyAsync<IOException>(() => client.ReadAsync(4096, new byte[512], Ct).AsTask());
    }

    [Theory(Timeout = 30_000)]
    [InlineData(false)]
    [InlineData(true)] // The socket then sits under a TLS stream, which must not keep the send alive.
    public async Task Disposal_cuts_short_a_send_stuck_on_a_server_that_stopped_reading(bool tls)
    {
        var catalog = new MemoryExportCatalog().Add("sink", () => new MemoryBlockDevice(new byte[16 << 20], writable: true));
        await using var server = new DeafNbdServer(catalog, new NbdServerOptions { Tls = tls ? TestPki.Instance.ServerTls(clientCertificates: false) : null });
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(server.Endpoint, "sink", tls), TestPki.Instance.ClientTls(null), Ct);

        // Far more than the socket buffers hold, to a server that reads none of it: the send cannot finish.
        var write = client.WriteAsync(0, new byte[16 << 20], cancellationToken: Ct).AsTask();
        Assert.False(write.IsCompleted);
        var queued = client.WriteAsync(0, new byte[512], cancellationToken: Ct).AsTask(); // Waits for its turn to send.

        // A hang guard, not a timing assertion: disposal used to wait for the stuck send for ever.
        await client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
        foreach (var call in new[] { write, queued })
        {
            var error = await Assert.ThrowsAnyAsync<IOException>(() => call.WaitAsync(TimeSpan.FromSeconds(10), Ct));
            Assert.Contains("is closed", error.Message);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Unix_socket_files_are_replaced_when_stale_and_removed_on_stop()
    {
        using var directory = new TempDirectory();
        string path = directory.File("nbd.sock");
        // A socket file nobody listens on: what a crashed server leaves behind.
        Assert.Equal(0, mknod(path, S_IFSOCK | 0x180, 0));
        Assert.True(File.Exists(path));

        var server = new NbdServer(new MemoryExportCatalog(), new TestLogger<NbdServer>());
        using var stop = new CancellationTokenSource();
        var running = server.RunAsync(NbdEndpoint.Parse("unix:" + path), stop.Token);
        await Task.Delay(200, Ct);
        var second = new NbdServer(new MemoryExportCatalog(), new TestLogger<NbdServer>());
        await Assert.ThrowsAsync<IOException>(() => second.StartAsync(NbdEndpoint.Unix(path), Ct));

        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.False(File.Exists(path));
    }

    private const uint S_IFSOCK = 0xC000;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mknod(string path, uint mode, ulong dev);
}

/// <summary>Reads touching <c>gatedOffset</c> wait for <c>gate</c>: a stand-in for a slow network fetch.</summary>
internal sealed class GatedBlockDevice(IBlockDevice inner, long gatedOffset, Task gate) : IBlockDevice
{
    public long Size => inner.Size;

    public BlockDeviceCapabilities Capabilities => inner.Capabilities;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (offset <= gatedOffset && gatedOffset < offset + buffer.Length)
            await gate.WaitAsync(cancellationToken);
        await inner.ReadAsync(offset, buffer, cancellationToken);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) =>
        inner.WriteAsync(offset, data, forceUnitAccess, cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) =>
        inner.WriteZeroesAsync(offset, length, forceUnitAccess, cancellationToken);

    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) => inner.DescribeAllocation(offset, length, extents);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>Every I/O fails: reads with a plain IOException (EIO), writes with ENOSPC, flushes with an unmapped errno (EIO).</summary>
internal sealed class FailingBlockDevice : IBlockDevice
{
    public long Size => 1 << 20;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        ValueTask.FromException(new IOException("disk on fire"));

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw new BlockDeviceException(BlockDeviceException.ENOSPC, "target disk full");

    public ValueTask FlushAsync(CancellationToken cancellationToken) =>
        ValueTask.FromException(new BlockDeviceException(9999, "strange errno"));

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) =>
        ValueTask.CompletedTask;

    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) => throw new NotSupportedException();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
