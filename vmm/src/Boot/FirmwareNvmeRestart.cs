using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Boot;

// The firmware set up its NVMe queues before the hypervisor existed, so the
// mediation cannot know where they are; yet the firmware's reads (the
// OS boot loader, the kernel) are the first a streaming deployment must
// mediate. Run from guest mode, this disconnects the firmware's NVMe driver
// and connects it again: it resets the controller and creates its queues
// anew, in front of the hypervisor. Standard UEFI driver-model calls only.
internal static unsafe class FirmwareNvmeRestart
{
    public static void Run(SystemTable* st)
    {
        BootServices* bs = st->BootServices;
        var guid = EfiGuid.NvmExpressPassThruProtocol;
        nuint count;
        void** handles;
        if (EfiStatus.IsError(bs->LocateHandleBuffer(LocateSearchType.ByProtocol, &guid, null, &count, &handles)))
            return;
        for (nuint i = 0; i < count; i++)
        {
            ulong disconnected = bs->DisconnectController(handles[i], null, null);
            ulong connected = bs->ConnectController(handles[i], null, null, 1);
            Serial.Write("bmcast-vmm: nvme: firmware driver restarted under the hypervisor (");
            Serial.WriteHex(disconnected);
            Serial.Write(", ");
            Serial.WriteHex(connected);
            Serial.WriteLine(")");
        }
        bs->FreePool(handles);
    }
}
