using System.Diagnostics;
using System.Runtime.InteropServices;
using Bmcast.Tests.Support;
using Bmcast.Vmm.Shared;

namespace Bmcast.Tests.Vmm;

[CollectionDefinition(nameof(Sha256ShaExtensionsCrossCheckTests), DisableParallelization = true)]
public sealed class Sha256ShaExtensionsCollection;

/// <summary>
/// The hypervisor's SHA-256 on the SHA extensions (vmm/asm/sha256ni.asm, SHA256RNDS2/MSG1/MSG2) against the BCL:
/// the same routine the hypervisor links, assembled here for the host (nasm -f elf64, System V convention) and
/// called through <see cref="Sha256.Accelerated"/>, as the hypervisor does where CPUID has them. QEMU's TCG lacks
/// them, so the host's CPU is the only place to run them. Alone in its collection: the hook is one static, and the
/// other tests hashing through it (manifest, presence map) must not switch paths in the middle.
/// </summary>
[Collection(nameof(Sha256ShaExtensionsCrossCheckTests))]
public sealed unsafe class Sha256ShaExtensionsCrossCheckTests : Sha256Checks, IDisposable
{
    private static readonly Lazy<(nint Routine, string? Missing)> Native = new(Load);
    private static delegate* unmanaged<uint*, byte*, ulong, void> s_routine;
    private static long s_calls;
    private bool _used;

    protected override void UsePath()
    {
        var (routine, missing) = Native.Value;
        if (missing is not null)
            Assert.Skip(missing);
        s_routine = (delegate* unmanaged<uint*, byte*, ulong, void>)routine;
        Sha256.Accelerated = &Compress;
        s_calls = 0;
        _used = true;
    }

    public void Dispose()
    {
        Sha256.Accelerated = null;
        Assert.True(!_used || s_calls > 0, "the checks ran on the SHA extensions' routine");
    }

    private static void Compress(uint* state, byte* data, ulong blocks)
    {
        s_calls++;
        s_routine(state, data, blocks);
    }

    private static (nint, string?) Load()
    {
        if (!File.ReadAllText("/proc/cpuinfo").Contains(" sha_ni", StringComparison.Ordinal))
            return (0, "this CPU has no SHA extensions (no sha_ni in /proc/cpuinfo)");
        string dir = Directory.CreateTempSubdirectory("bmcast-sha256ni-").FullName;
        string obj = Path.Combine(dir, "sha256ni.o"), library = Path.Combine(dir, "libsha256ni.so");
        string? failure = Run("nasm", "-f", "elf64", Path.Combine(Repository.Root, "vmm", "asm", "sha256ni.asm"), "-o", obj)
            ?? Run("ld.lld", "-shared", "-o", library, obj);
        if (failure is not null)
            return (0, failure);
        return (NativeLibrary.GetExport(NativeLibrary.Load(library), "sha256_ni_blocks"), null);
    }

    private static string? Run(string tool, params string[] arguments)
    {
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardError = true })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return $"{tool} is not installed (apt-get install nasm lld; ./test.sh installs them)";
        }
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} failed: {errors}");
        return null;
    }
}
