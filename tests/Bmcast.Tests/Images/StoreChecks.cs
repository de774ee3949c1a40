using Bmcast.Images;
using Bmcast.Tests.Nbd;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>What the pack tests check and do again and again: an image is intact, a store copied, the CLI run, nbdcopy compared.</summary>
internal static class StoreChecks
{
    /// <summary>The image verifies (every chunk re-hashed) and reads back exactly <paramref name="expected"/>.</summary>
    public static async Task AssertIntactAsync(ImageStore store, string name, SparseImage expected, string context = "")
    {
        var report = await new ImageVerifier(store).VerifyAsync(name, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(report.IsValid, $"{context}: {name} does not verify: {string.Join(", ", report.BadChunks.Select(b => $"{b.Chunk} {b.Problem}"))}");
        await using var device = store.OpenDevice(name);
        var content = new byte[device.Size];
        await device.ReadAsync(0, content, TestContext.Current.CancellationToken);
        Assert.True(content.AsSpan().SequenceEqual(expected.Content), $"{context}: {name} reads back different bytes");
    }

    /// <summary>
    /// A copy of a store directory as it is on disk now, but for its lock files: empty, made again on use, and held
    /// (which .NET's copy, taking a lock of its own on the source, would wait for).
    /// </summary>
    public static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from).Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (string sub in Directory.GetDirectories(from))
            CopyDirectory(sub, Path.Combine(to, Path.GetFileName(sub)));
    }

    /// <summary>Run a bmcast command to success; returns its standard output.</summary>
    public static async Task<string> RunAsync(params string[] arguments)
    {
        var (code, output, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), arguments);
        Assert.True(code == 0, $"bmcast {string.Join(' ', arguments)} exited {code}: {error}");
        return output;
    }

    /// <summary>Start <c>bmcast serve</c> on a unix socket and wait until it listens.</summary>
    public static async Task<BmcastProcess> ServeAsync(string store, string socket)
    {
        var server = BmcastProcess.Start("serve", "--store", store, "--nbd", "unix:" + socket);
        while (!File.Exists(socket))
        {
            Assert.False(server.HasExited, server.Stderr);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        return server;
    }

    /// <summary>nbdcopy an export of <paramref name="server"/> into <paramref name="file"/>: it must hold exactly <paramref name="expected"/>.</summary>
    public static async Task NbdCopyAndCompareAsync(string uri, string file, SparseImage expected, BmcastProcess server)
    {
        var copy = await ExternalTool.RunAsync(TimeSpan.FromMinutes(2), "nbdcopy", uri, file);
        Assert.True(copy.ExitCode == 0, $"nbdcopy {uri} exited {copy.ExitCode}: {copy.Error}\nserver's log:\n{server.Stderr}");
        Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(expected.Content), $"nbdcopy of {uri} read different bytes");
        File.Delete(file);
    }
}
