using Amazon.Runtime;
using Amazon.S3;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.ObjectStore;

/// <summary>
/// A real single-node Ceph RADOS Gateway, started by <c>tools/ceph-rgw.sh</c> in a directory of the test's own and
/// stopped (gateway, OSD, manager, monitor) when disposed, whatever the test's outcome. The script installs Ceph's
/// packages when they are missing, which needs root: without root and without the packages the test is skipped.
/// </summary>
internal sealed class CephRgw : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(6);   // a package install included, on a loaded machine
    private static readonly TimeSpan StopTimeout = TimeSpan.FromMinutes(2);

    private CephRgw(string directory) => Directory = directory;

    public string Directory { get; }

    public string Endpoint { get; private set; } = "";

    public string AccessKey { get; private set; } = "";

    public string SecretKey { get; private set; } = "";

    public static string Script => Path.Combine(Repository.Root, "tools", "ceph-rgw.sh");

    public static async Task<CephRgw> StartAsync(string directory)
    {
        if (!Environment.IsPrivilegedProcess && !File.Exists("/usr/bin/radosgw"))
            Assert.Skip("Ceph is not installed and installing it needs root (CI runs ./test.sh as root): apt-get install ceph-mon ceph-mgr ceph-osd radosgw ceph-common");
        var rgw = new CephRgw(directory);
        try
        {
            await rgw.StartAgainAsync();
            return rgw;
        }
        catch
        {
            await rgw.DisposeAsync();
            throw;
        }
    }

    /// <summary>Start the cluster in <see cref="Directory"/> (again, after a stop: the same endpoint, keys and data).</summary>
    public async Task StartAgainAsync()
    {
        var started = await ExternalTool.RunAsync(StartTimeout, "bash", Script, "start", Directory);
        Assert.True(started.ExitCode == 0, $"ceph-rgw.sh start exited {started.ExitCode}:\n{started.Error}");
        // The last line: export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
        string last = started.Output.TrimEnd().Split('\n')[^1];
        Assert.StartsWith("export ", last);
        var assignments = last["export ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
        Endpoint = assignments["AWS_ENDPOINT_URL"];
        AccessKey = assignments["AWS_ACCESS_KEY_ID"];
        SecretKey = assignments["AWS_SECRET_ACCESS_KEY"];
    }

    public Task StopAsync() => ExternalTool.RunCheckedAsync(StopTimeout, "bash", Script, "stop", Directory);

    /// <summary>An S3 client as bmcast configures one for Ceph RGW (path-style, checksums only where required).</summary>
    public AmazonS3Client Client(string? secretKey = null) =>
        new(new BasicAWSCredentials(AccessKey, secretKey ?? SecretKey), new AmazonS3Config
        {
            ServiceURL = Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    /// <summary>Processes whose command line names this cluster's directory (its daemons), by PID.</summary>
    public IReadOnlyList<int> Daemons()
    {
        var found = new List<int>();
        foreach (string proc in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out int pid))
                continue;
            try
            {
                if (File.ReadAllText(Path.Combine(proc, "cmdline")).Contains(Directory, StringComparison.Ordinal))
                    found.Add(pid);
            }
            catch (IOException)
            {
                // gone meanwhile
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    public async ValueTask DisposeAsync() => await ExternalTool.RunAsync(StopTimeout, "bash", Script, "stop", Directory);
}
