using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Nvme;

// The NVMe controller under the hypervisor: traps BAR0's register page and
// doorbell page, takes a private I/O queue pair at each controller enable,
// and reports at power-off. Options (SMBIOS OEM strings):
//   bmcast.vmm.nvme-tail=BLOCKS   4 KiB blocks hidden at the namespace's end (default 256, 1 MiB)
//   bmcast.vmm.nvme-dbbuf=advertise   refuse the guest's Doorbell Buffer Config, but advertise it
//   bmcast.vmm.nvme-dbbuf=allow   let the guest use shadow doorbells (a test's negative control)
internal static unsafe class NvmeMediation
{
    public const ulong StatePages = QueueTable.Pages + PrivateQueuePair.Pages;

    // A controller was found and its pages are trapped.
    public static bool Installed { get; private set; }

    public static void Install(SystemTable* st, ref TrapTable traps, ulong bar0, byte* state)
    {
        Controller.Attach(bar0);
        QueueTable.Place(state);
        PrivateQueuePair.Place(state + QueueTable.Pages * ReservedMemory.PageSize);
        GuestAdminCommands.SetDoorbellBufferPolicy(
            Smbios.HasOemString(st, "bmcast.vmm.nvme-dbbuf=allow") ? DoorbellBufferPolicy.Allow
            : Smbios.HasOemString(st, "bmcast.vmm.nvme-dbbuf=advertise") ? DoorbellBufferPolicy.Advertise
            : DoorbellBufferPolicy.Hide);
        ulong tail;
        HiddenTail.Configure(Smbios.TryGetOemNumber(st, "bmcast.vmm.nvme-tail=", out tail) ? tail : HiddenTail.DefaultBlocks);
        IoInterceptor.Install(&IoCounter.Submitted);
        traps.Add(ControllerRegisters.Trap(bar0));
        traps.Add(NvmeDoorbells.Trap(bar0));
        traps.AddReport(&Report);
        Installed = true;
    }

    // The guest set CC.EN: once the controller is ready, the admin queue is
    // the guest's fresh one, and the hypervisor's commands go first.
    public static void ControllerEnabled()
    {
        QueueTable.ForgetAll();
        if (!Controller.WaitReady())
        {
            Serial.WriteLine("bmcast-vmm: nvme: FAILED: controller not ready after enable");
            return;
        }
        uint attributes = Controller.Read32(Controller.AdminQueueAttributes);
        SubmissionQueue* sq = QueueTable.Submission(0);
        sq->Base = Controller.Read64(Controller.AdminSubmissionQueueBase) & ~0xFFFul;
        sq->Entries = (attributes & 0xFFF) + 1;
        QueueTable.Completion(0)->Reset(Controller.Read64(Controller.AdminCompletionQueueBase) & ~0xFFFul, ((attributes >> 16) & 0xFFF) + 1);

        AdminChannel.Begin();
        HiddenTail.Measure();
        PrivateQueuePair.Create();
        AdminChannel.Finish();
        Serial.Write("bmcast-vmm: nvme: controller enabled, admin queues ");
        Serial.WriteDecimal(sq->Entries);
        Serial.Write('/');
        Serial.WriteDecimal(QueueTable.Completion(0)->Entries);
        Serial.Write(": private I/O queue ");
        Serial.WriteDecimal(PrivateQueuePair.Id);
        Serial.Write(", ");
        Serial.WriteDecimal(AdminChannel.Issued - AdminChannel.Padding);
        Serial.Write(" admin commands + ");
        Serial.WriteDecimal(AdminChannel.Padding);
        Serial.WriteLine(AdminChannel.LeftFresh() ? " padding, admin queue left fresh" : " padding, FAILED: admin queue left out of step");
        if (!IoInterceptor.ControllerEnabled())
            PrivateIoCheck.Run();   // a diagnostic that writes the tail's first block: not under a policy that keeps its map there
    }

    private static void Report()
    {
        Serial.Write("bmcast-vmm: nvme:");
        IoCounter.Report();
        HiddenTailGuard.Report();
        SubmissionOrderCheck.Report();
        GuestAdminCommands.Report();
        NvmeDoorbells.Report();
        Serial.WriteLine();
    }
}
