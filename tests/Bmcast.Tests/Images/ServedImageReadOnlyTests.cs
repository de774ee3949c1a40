using System.Security.Cryptography;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Tests.Nbd;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// What <c>bmcast serve</c> exports is read-only: no NBD command changes a byte of the store, and no store command
/// removes an image from under a reader.
/// </summary>
public sealed class ServedImageReadOnlyTests : IDisposable
{
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact(Timeout = 30_000)]
    public async Task Write_write_zeroes_and_trim_are_refused_with_eperm_and_the_store_is_unchanged()
    {
        await _temp.ImportAsync(new SparseImage(_temp.PathFor("a.raw"), 1 << 20).Data(0, 100_000).Path, "a");
        var before = StoreFingerprint();
        var server = new NbdServer(new StoreExportCatalog(_temp.Store), new TestLogger<NbdServer>());

        foreach (string export in new[] { "a", "manifest:a" })
        {
            var connection = InMemoryServer.Start(server);
            var peer = connection.Peer;
            await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
            await peer.SendOptionAsync(NbdOption.ExportName, System.Text.Encoding.UTF8.GetBytes(export));
            await peer.ReadExactlyAsync(NbdHandshakeCodec.ExportNameReplySize);

            await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Write, 1, 0, 4096, payload: new byte[4096]));
            await peer.SendAsync(RawNbdPeer.Request(NbdCommand.WriteZeroes, 2, 0, 4096));
            await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Trim, 3, 0, 4096));
            await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Write, 4, 40, 10, NbdCommandFlags.Fua, payload: new byte[10]));
            await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Disconnect, 5, 0, 0));

            for (ulong cookie = 1; cookie <= 4; cookie++)
                Assert.Equal(NbdError.Perm, await peer.ReadSimpleReplyAsync(cookie));
            await connection.Serving;
        }

        Assert.Equal(before, StoreFingerprint());
    }

    /// <summary>Every file under the store with its contents' hash.</summary>
    private Dictionary<string, string> StoreFingerprint() =>
        Directory.EnumerateFiles(_temp.Store.Root, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(_temp.Store.Root, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    /// <summary>
    /// An image a client is reading cannot be removed or replaced (issue 15: <c>image rm</c> and <c>import --force</c>
    /// deleted its chunks at once and the reader got EIO): both refuse with a clear error and change nothing; once the
    /// reader has gone they work.
    /// </summary>
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
