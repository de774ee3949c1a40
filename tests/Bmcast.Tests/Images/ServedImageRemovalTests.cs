using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Tests.Nbd;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// An image a client is reading cannot be removed or replaced (issue 15: <c>image rm</c> and <c>import --force</c>
/// deleted its chunks at once and the reader got EIO): both refuse with a clear error and change nothing; once the
/// reader has gone they work.
/// </summary>
public sealed class ServedImageRemovalTests : IDisposable
{
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact(Timeout = 60_000)]
    public async Task Remove_and_forced_import_are_refused_while_a_client_reads_the_image()
    {
        var image = new SparseImage(_temp.PathFor("a.raw"), 1 << 20).Data(0, 300_000);
        await _temp.ImportAsync(image.Path, "a");
        var other = new SparseImage(_temp.PathFor("b.raw"), 1 << 20).Data(0, 200_000);
        var server = new NbdServer(new StoreExportCatalog(_temp.Store), new TestLogger<NbdServer>());
        var connection = InMemoryServer.Start(server);
        var peer = connection.Peer;
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("a"));

        var remove = await CliRunner.RunAsync("image", "rm", "a", "--store", _temp.Store.Root);
        Assert.Equal(1, remove.ExitCode);
        Assert.Contains("image 'a' is in use", remove.Error);
        var replace = await CliRunner.RunAsync("image", "import", other.Path, "--name", "a", "--force", "--store", _temp.Store.Root);
        Assert.Equal(1, replace.ExitCode);
        Assert.Contains("image 'a' is in use", replace.Error);

        // The reader still gets the image's bytes.
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 1, 0, 300_000));
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(1));
        var read = await peer.ReadExactlyAsync(300_000);
        Assert.True(image.Content[..300_000].SequenceEqual(read));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Disconnect, 2, 0, 0));
        await connection.Serving;

        Assert.Equal(0, (await CliRunner.RunAsync("image", "import", other.Path, "--name", "a", "--force", "--store", _temp.Store.Root)).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync("image", "rm", "a", "--store", _temp.Store.Root)).ExitCode);
        Assert.False(_temp.Store.Exists("a"));
    }
}
