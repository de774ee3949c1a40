using System.Diagnostics;

namespace Bmcast.Tests.Support;

/// <summary>The hypervisor's own scripts (vmm/), run by tests that need what they build.</summary>
internal static class VmmScripts
{
    // One script at a time: test classes run in parallel, and the scripts build into one cache (vmm/.cache) that two
    // first runs on a fresh machine would both rebuild.
    private static readonly SemaphoreSlim OneAtATime = new(1);

    /// <summary>The hypervisor's stand-in OS disk (built once, cached by the script).</summary>
    public static Task<string> StandInDiskAsync() => RunAsync("guest/make-disk.sh");

    /// <summary>bmcast-vmm.efi, built by vmm/build.sh (which installs nasm and lld when missing).</summary>
    public static Task<string> BuildAsync() => RunAsync("build.sh");

    /// <summary>Path of a file under vmm/.</summary>
    public static string PathOf(string relative) => Path.Combine(Repository.Root, "vmm", relative);

    private static async Task<string> RunAsync(string script)
    {
        await OneAtATime.WaitAsync();
        try
        {
            return await RunAloneAsync(script);
        }
        finally
        {
            OneAtATime.Release();
        }
    }

    private static async Task<string> RunAloneAsync(string script)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(PathOf(script));
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"vmm/{script} failed: {error}");
        return (await output).Trim();
    }
}
