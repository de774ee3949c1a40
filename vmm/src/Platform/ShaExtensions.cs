using System.Runtime;
using System.Runtime.CompilerServices;
using Bmcast.Vmm.Shared;

namespace Bmcast.Vmm.Platform;

// SHA-256 in hardware (vmm/asm/sha256ni.asm) where the CPU has the SHA
// extensions: every fetched chunk and the manifest are hashed, and the
// instructions do a block in a fraction of the scalar code's time. QEMU
// 7.2's TCG (-cpu max) lacks them (event=streaming sha_ni=0); a real AMD
// CPU since Zen has them, and so does a KVM guest on one.
internal static unsafe class ShaExtensions
{
    [RuntimeImport("*", "sha256_ni_blocks")] [MethodImpl(MethodImplOptions.InternalCall)]
    private static extern void Blocks(uint* state, byte* data, ulong blocks);

    // Called once, before anything is hashed; true if the hardware path is in use.
    public static bool Enable()
    {
        if (!CpuFeatures.HasShaExtensions)
            return false;
        Sha256.Accelerated = &Compress;
        return true;
    }

    private static void Compress(uint* state, byte* data, ulong blocks) => Blocks(state, data, blocks);
}
