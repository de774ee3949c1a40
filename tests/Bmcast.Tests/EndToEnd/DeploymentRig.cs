using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// A private image store with one imported image, <c>bmcast serve</c> on a unix socket, and helpers
/// to start streaming agents from it: the real CLI processes, as an operator would run them.
/// </summary>
internal sealed class DeploymentRig : IAsyncDisposable
{
    private readonly List<BmcastProcess> _processes = [];
    private string[] _serveOptions = [];

    private DeploymentRig(Bmcast.Tests.Support.TempDirectory directory) => Directory = directory;

    public Bmcast.Tests.Support.TempDirectory Directory { get; }

    public string Store => Directory.File("store");

    public string ServerSocket => Directory.File("serve.sock");

    /// <summary>Whether agents reach the server over TLS (nbds+unix://; give them the credentials as extra options).</summary>
    public bool TlsSource { get; set; }

    public string SourceUri(string image) => SourceUri(image, ServerSocket);

    public string SourceUri(string image, string socket) => $"{(TlsSource ? "nbds+unix" : "nbd+unix")}:///{image}?socket={socket}";

    /// <param name="serveOptions">Extra <c>bmcast serve</c> options, e.g. <c>--rate 2M</c>.</param>
    public static async Task<DeploymentRig> StartAsync(string imagePath, string imageName, params string[] serveOptions)
    {
        ExternalTool.Require("qemu-io");
        var rig = new DeploymentRig(new Bmcast.Tests.Support.TempDirectory()) { _serveOptions = serveOptions };
        try
        {
            var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(3), "image", "import", imagePath, "--name", imageName, "--store", rig.Store);
            Assert.True(code == 0, $"import failed: {error}");
            await rig.StartServerAsync();
            return rig;
        }
        catch
        {
            await rig.DisposeAsync();
            throw;
        }
    }

    /// <summary>Start <c>bmcast stream --json</c> exporting on <paramref name="exportSocket"/>; waits for its "started" event.</summary>
    public Task<BmcastProcess> StartAgentAsync(string image, string target, string exportSocket, params string[] extra) =>
        StartAgentAsync([SourceUri(image)], target, exportSocket, extra);

    /// <summary>The same with several <c>--source</c>s.</summary>
    public async Task<BmcastProcess> StartAgentAsync(IEnumerable<string> sources, string target, string exportSocket, params string[] extra)
    {
        string[] arguments =
        [
            "stream", .. sources.SelectMany(source => new[] { "--source", source }), "--target", target, "--export", "unix:" + exportSocket,
            "--known-keys", Directory.File("known_keys"), "--json", .. extra,
        ];
        var agent = Track(BmcastProcess.Start(arguments));
        await agent.WaitForEventAsync("started", TimeSpan.FromSeconds(60));
        return agent;
    }

    /// <summary>The running <c>bmcast serve</c>.</summary>
    public BmcastProcess Server { get; private set; } = null!;

    /// <summary>Start <c>bmcast serve</c> (again, after a kill) on the same store and socket.</summary>
    public async Task StartServerAsync() => Server = await StartServerAsync(Store, ServerSocket);

    /// <summary>Start a <c>bmcast serve</c> on <paramref name="store"/> at <paramref name="socket"/> (another source of an agent's).</summary>
    public async Task<BmcastProcess> StartServerAsync(string store, string socket)
    {
        File.Delete(socket);
        var server = Track(BmcastProcess.Start(["serve", "--store", store, "--nbd", "unix:" + socket, .. _serveOptions]));
        await WaitForSocketAsync(socket, server);
        return server;
    }

    public BmcastProcess Track(BmcastProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
            await process.DisposeAsync();
        Directory.Dispose();
    }

    private static async Task WaitForSocketAsync(string path, BmcastProcess owner)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(path))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no socket {path} after 60 s; stderr:\n{owner.Stderr}");
            await Task.Delay(50);
        }
    }
}
