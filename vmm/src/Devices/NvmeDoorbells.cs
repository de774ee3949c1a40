using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// The NVMe controller's doorbell page (BAR0 + 0x1000), the one place stage 2
// mediates the disk: a submission-queue tail write is where the hypervisor
// will hold the guest's new commands until the blocks they read are present.
// For now it only watches: it reports the first submission on each queue,
// and the core forwards every doorbell unchanged.
internal static unsafe class NvmeDoorbells
{
    private const ulong DoorbellPage = 0x1000;
    private static int s_strideShift;     // doorbell stride = 4 << CAP.DSTRD
    private static ulong s_queuesSeen;    // bit n: queue n has had a submission

    public static MmioTrap Trap(ulong bar0)
    {
        ulong capabilities = *(ulong*)bar0;   // read before launch, on the firmware's identity map
        s_strideShift = 2 + (int)((capabilities >> 32) & 0xF);
        return new MmioTrap { Page = bar0 + DoorbellPage, Access = &Access };
    }

    private static TrapResult Access(Vcpu* vcpu, uint offset, int size, bool write, ulong* value)
    {
        uint doorbell = offset >> s_strideShift;
        uint queue = doorbell / 2;
        bool submission = doorbell % 2 == 0;   // even: SQ tail, odd: CQ head
        if (write && submission && queue < 64 && (s_queuesSeen & (1ul << (int)queue)) == 0)
        {
            s_queuesSeen |= 1ul << (int)queue;
            Serial.Write("bmcast-vmm: nvme: first submission on queue ");
            Serial.WriteDecimal(queue);
            Serial.Write(", tail ");
            Serial.WriteDecimal(*value);
            Serial.WriteLine();
        }
        return TrapResult.Passthrough;
    }
}
