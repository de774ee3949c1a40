using System.Security.Cryptography;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Tests.Nbd;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>What <c>bmcast serve</c> exports is read-only: no NBD command changes a byte of the store.</summary>
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
}
