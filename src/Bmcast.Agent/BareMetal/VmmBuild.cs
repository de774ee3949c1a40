using Bmcast.Agent.Host;

namespace Bmcast.Agent.BareMetal;

/// <summary>
/// The repository's hypervisor (<c>vmm/</c>): built by <c>vmm/build.sh</c> (which installs nasm and lld itself), and
/// put on a FAT boot drive as the firmware's removable-media loader, as vmm/run-qemu.sh does.
/// </summary>
public static class VmmBuild
{
    /// <summary>Overrides where vmm/ is looked for (an installed CLI has no repository beside it).</summary>
    public const string EnvironmentVariable = "BMCAST_VMM_DIR";

    /// <summary>$BMCAST_VMM_DIR, else the first <c>vmm/</c> with a <c>build.sh</c> above the CLI or the current directory.</summary>
    public static string Locate()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured)
            return Path.GetFullPath(configured);
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "vmm", "build.sh")))
                    return Path.Combine(dir.FullName, "vmm");
        throw new IOException($"cannot find the hypervisor's sources (vmm/build.sh); set {EnvironmentVariable}");
    }

    /// <summary>Builds <c>bmcast-vmm.efi</c> (quick when nothing changed) and returns its path.</summary>
    public static async Task<string> BuildAsync(CancellationToken ct)
    {
        string output = await AptPackages.RunAsync(Path.Combine(Locate(), "build.sh"), "", ct);
        string efi = output.Trim().Split('\n')[^1];
        return File.Exists(efi) ? efi : throw new IOException($"vmm/build.sh did not name the hypervisor it built: {output.Trim()}");
    }

    /// <summary>A 4 MiB FAT image at <paramref name="path"/> with <paramref name="efi"/> as <c>EFI/BOOT/BOOTX64.EFI</c>.</summary>
    public static async Task CreateBootDriveAsync(string efi, string path, CancellationToken ct)
    {
        await AptPackages.RunAsync("mkfs.fat", $"-C -n BMCASTVMM \"{path}\" 4096", ct);
        await AptPackages.RunAsync("mmd", $"-i \"{path}\" ::/EFI ::/EFI/BOOT", ct);
        await AptPackages.RunAsync("mcopy", $"-i \"{path}\" \"{efi}\" ::/EFI/BOOT/BOOTX64.EFI", ct);
    }
}
