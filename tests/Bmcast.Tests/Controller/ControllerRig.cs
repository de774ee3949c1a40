using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Bmcast.Controller.Deployments;

namespace Bmcast.Tests.Controller;

/// <summary>
/// A real <c>bmcast controller</c> on loopback (any free port) over a private store and data directory, with an
/// HTTP client carrying its token. Disposing stops it and every deploy process it started (they run in sessions of
/// their own, on purpose, so nothing else would).
/// </summary>
internal sealed partial class ControllerRig : IAsyncDisposable
{
    private readonly string[] _options;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly HashSet<(int Pid, string Target)> _deploys = [];
    private BmcastProcess? _controller;

    private ControllerRig(Bmcast.Tests.Support.TempDirectory directory, string[] options, string? store = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        Directory = directory;
        _options = options;
        Store = store ?? directory.File("store");
        _environment = environment ?? new Dictionary<string, string>();
    }

    public Bmcast.Tests.Support.TempDirectory Directory { get; }

    /// <summary>The store's location: a directory of the rig's own unless given (a bucket).</summary>
    public string Store { get; }

    public string Data => Directory.File("data");

    public Uri BaseAddress { get; private set; } = null!;

    public string Token => File.ReadAllText(Path.Combine(Data, "token")).Trim();

    /// <summary>What the controller printed on stdout (the token on first start, its address).</summary>
    public string Output => _controller?.Stdout ?? "";

    /// <summary>Import <paramref name="imageFile"/> as <paramref name="name"/> (when given) and start the controller.</summary>
    public static async Task<ControllerRig> StartAsync(Bmcast.Tests.Support.TempDirectory directory, string? imageFile, string name, params string[] options)
    {
        var rig = new ControllerRig(directory, options);
        if (imageFile is not null)
        {
            var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(3), "image", "import", imageFile, "--name", name, "--store", rig.Store);
            Assert.True(code == 0, $"import failed: {error}");
        }
        await rig.StartControllerAsync();
        return rig;
    }

    /// <summary>Start the controller on an existing <paramref name="store"/>, with <paramref name="environment"/> (a bucket's credentials).</summary>
    public static async Task<ControllerRig> StartOnStoreAsync(Bmcast.Tests.Support.TempDirectory directory, string store,
        IReadOnlyDictionary<string, string> environment)
    {
        var rig = new ControllerRig(directory, [], store, environment);
        await rig.StartControllerAsync();
        return rig;
    }

    private async Task StartControllerAsync()
    {
        _controller = BmcastProcess.Start(_environment, ["controller", "--listen", "127.0.0.1:0", "--store", Store, "--data", Data, .. _options]);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        string? line;
        while ((line = AddressLine()) is null)
        {
            if (_controller.HasExited || DateTime.UtcNow > deadline)
                Assert.Fail($"the controller did not start listening; stderr:\n{_controller.Stderr}");
            await Task.Delay(100);
        }
        BaseAddress = new Uri(line!["listening on ".Length..].Trim());
    }

    private string? AddressLine() => Output.Split('\n').LastOrDefault(l => l.StartsWith("listening on ", StringComparison.Ordinal));

    /// <summary>A client for the API, with the token unless <paramref name="token"/> says otherwise ("" for none).</summary>
    public HttpClient Client(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        token ??= Token;
        if (token.Length > 0)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A controller crash (SIGKILL) and a new one on the same store and data.</summary>
    public async Task CrashAndRestartAsync()
    {
        await _controller!.KillHardAsync();
        await _controller.DisposeAsync();
        await StartControllerAsync();
    }

    /// <summary>POST a deployment; the rig stops its process at the end of the test.</summary>
    public async Task<JsonElement> DeployAsync(HttpClient client, object request)
    {
        var response = await client.PostAsJsonAsync("/api/v1/deployments", request);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"POST /api/v1/deployments: {(int)response.StatusCode} {body}");
        Adopt(body);
        return body;
    }

    /// <summary>Stop at the end of the test a deployment started another way (from the dashboard), as one from <see cref="DeployAsync"/>.</summary>
    public void Adopt(JsonElement deployment)
    {
        if (deployment.GetProperty("pid").ValueKind == JsonValueKind.Number)
            _deploys.Add((deployment.GetProperty("pid").GetInt32(), deployment.GetProperty("target").GetString()!));
    }

    /// <summary>Poll a deployment until <paramref name="done"/> holds for it (fails on a terminal state it does not accept).</summary>
    public static async Task<JsonElement> WaitForAsync(HttpClient client, string id, Func<JsonElement, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var d = await client.GetFromJsonAsync<JsonElement>($"/api/v1/deployments/{id}");
            if (done(d))
                return d;
            if (d.GetProperty("state").GetString() is "finished" or "stopped" or "failed" || DateTime.UtcNow > deadline)
                Assert.Fail($"deployment {id} did not get there within {timeout}: {d}");
            await Task.Delay(250);
        }
    }

    public static Func<JsonElement, bool> InState(string state) => d => d.GetProperty("state").GetString() == state;

    public async ValueTask DisposeAsync()
    {
        if (_controller is not null)
            await _controller.DisposeAsync();
        foreach (var (pid, target) in _deploys)
            await StopAsync(pid, target);
    }

    /// <summary>
    /// SIGTERM (the deploy stops its QEMU), then SIGKILL after a grace period, each only while the PID still is that
    /// deploy: the PID of one that ended may since be another process's, or even a thread of this test process
    /// (kill(2) with a thread's ID signals its whole process), which a stray SIGTERM would end.
    /// </summary>
    private static async Task StopAsync(int pid, string target)
    {
        if (!DeployProcess.IsRunning(pid, target) || kill(pid, 15) != 0)
            return;
        for (int i = 0; i < 450 && DeployProcess.IsRunning(pid, target); i++)
            await Task.Delay(100);
        if (DeployProcess.IsRunning(pid, target))
            kill(pid, 9);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
