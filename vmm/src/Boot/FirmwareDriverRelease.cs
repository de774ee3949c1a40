using Bmcast.Vmm.Efi;

namespace Bmcast.Vmm.Boot;

// Makes sure no firmware driver manages a PCI function the hypervisor takes
// for itself: a driver would keep using it, and reset it at
// ExitBootServices. Finds the function's PCI I/O handle, counts the agents
// that opened it BY_DRIVER (the UEFI driver model's "this driver manages
// it"), and if there are any, disconnects them.
internal static unsafe class FirmwareDriverRelease
{
    // EFI_PCI_IO_PROTOCOL.GetLocation(This, Segment, Bus, Device, Function), after 14 pointers.
    private const int GetLocationOffset = 14 * 8;

    // Drivers that managed the function (now disconnected), or -1 when the firmware has no PCI I/O handle for it.
    public static int Release(SystemTable* st, long location)
    {
        BootServices* bs = st->BootServices;
        var guid = EfiGuid.PciIoProtocol;
        nuint count;
        void** handles;
        if (EfiStatus.IsError(bs->LocateHandleBuffer(LocateSearchType.ByProtocol, &guid, null, &count, &handles)))
            return -1;
        int drivers = -1;
        for (nuint i = 0; i < count && drivers < 0; i++)
        {
            void* pciIo;
            if (EfiStatus.IsError(bs->HandleProtocol(handles[i], &guid, &pciIo)))
                continue;
            var getLocation = *(delegate* unmanaged[SuppressGCTransition]<void*, nuint*, nuint*, nuint*, nuint*, ulong>*)((byte*)pciIo + GetLocationOffset);
            nuint segment, bus, device, function;
            if (EfiStatus.IsError(getLocation(pciIo, &segment, &bus, &device, &function))
                || segment != 0 || (long)(bus << 16 | device << 11 | function << 8) != location)
                continue;
            drivers = DriversOf(bs, handles[i], &guid);
            if (drivers > 0)
                bs->DisconnectController(handles[i], null, null);
        }
        bs->FreePool(handles);
        return drivers;
    }

    private static int DriversOf(BootServices* bs, void* handle, EfiGuid* guid)
    {
        OpenProtocolInformationEntry* entries;
        nuint count;
        if (EfiStatus.IsError(bs->OpenProtocolInformation(handle, guid, &entries, &count)))
            return 0;
        int drivers = 0;
        for (nuint i = 0; i < count; i++)
        {
            if ((entries[i].Attributes & OpenProtocolInformationEntry.ByDriver) != 0)
                drivers++;
        }
        bs->FreePool(entries);
        return drivers;
    }
}
