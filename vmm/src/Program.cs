using System.Runtime;
using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Devices;
using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Net;
using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Streaming;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm;

internal static unsafe class Program
{
    // Runs in the image the firmware loaded: checks, reserves memory, and
    // continues in the relocated copy there.
    [RuntimeExport("EfiMain")]
    private static ulong EfiMain(void* imageHandle, SystemTable* st)
    {
        string why = SvmSupport.WhyUnusable();
        if (why != null)
            return Refuse(why, EfiStatus.Unsupported);
        ushort pm1aControl = Acpi.FindPm1aControlPort(st);
        if (pm1aControl == 0)
            return Refuse("no ACPI FADT PM1a control port", EfiStatus.NotFound);
        LoadedImage* image = LoadedImage.Of(st, imageHandle);
        if (image == null)
            return Refuse("no loaded-image protocol", EfiStatus.NotFound);

        ulong imagePages = ReservedMemory.PagesFor(image->ImageSize);
        ulong pages = imagePages + 1 /*trap table*/ + NvmeMediation.StatePages + AoeStartupCheck.PagesNeeded(st) + Launcher.PagesNeeded(SvmSupport.PhysicalAddressBits());
        if (!ReservedMemory.TryReserve(st->BootServices, pages, out ReservedMemory memory))
            return Refuse("cannot reserve memory", EfiStatus.OutOfResources);

        long delta = SelfRelocation.CopyTo(image->ImageBase, image->ImageSize, memory.TakePages(imagePages));
        delegate*<SystemTable*, void*, ReservedMemory*, ushort, ulong> main = &Main;
        main = (delegate*<SystemTable*, void*, ReservedMemory*, ushort, ulong>)((byte*)main + delta);
        return main(st, imageHandle, &memory, pm1aControl);
    }

    // Runs in the reserved copy: virtualizes the CPU, then, as the guest,
    // boots the OS from the next disk.
    private static ulong Main(SystemTable* st, void* imageHandle, ReservedMemory* memory, ushort pm1aControl)
    {
        Serial.Write("bmcast-vmm: reserved ");
        Serial.WriteDecimal(memory->Size / 1024);
        Serial.Write(" KiB at ");
        Serial.WriteHex(memory->Base);
        Serial.Write(", physical address bits ");
        Serial.WriteDecimal(SvmSupport.PhysicalAddressBits());
        Serial.Write(", PM1a control port ");
        Serial.WriteHex(pm1aControl);
        Serial.WriteLine();

        ShaExtensions.Enable();   // before the AoE check hashes the manifest
        TrapTable traps = TrapTable.In(memory->TakePages(1));
        traps.Add(AcpiPowerControl.Trap(pm1aControl));
        AddRequestedDevices(st, ref traps, memory);
        AoeStartupCheck.RunIfRequested(st, ref traps, memory);
        if (AoeStartupCheck.Passed && NvmeMediation.Installed)
            StreamingSetup.Install(st, ref traps, AoeStartupCheck.Manifest, AoeStartupCheck.Image);
        else if (AoeStartupCheck.Passed && NvmeRequested(st))
            Panic.Halt("streaming configured, but no NVMe controller is mediated");
        Launcher.Launch(ref *memory, traps);

        if (!HypervisorAnswers())
            Panic.Halt("launched, but CPUID 0x40000000 does not name bmcast");
        Serial.WriteLine("bmcast-vmm: guest running under SVM");
        if (NvmeMediation.Installed)
            FirmwareNvmeRestart.Run(st);
        return ChainLoader.BootNextDisk(st, imageHandle);
    }

    // Stage 2's devices, on request only (SMBIOS OEM strings): stage 1 keeps
    // to the intercepts correctness needs.
    private static void AddRequestedDevices(SystemTable* st, ref TrapTable traps, ReservedMemory* memory)
    {
        if (NvmeRequested(st))
        {
            long nvme = Pci.Find(0x01, 0x08, 0x02);   // mass storage, NVM, NVMe
            if (nvme < 0)
            {
                Serial.WriteLine("bmcast-vmm: nvme: no controller to trap");
            }
            else if (!Clock.TryCalibrate(st))
            {
                Serial.WriteLine("bmcast-vmm: nvme: no ACPI PM timer to time its waits by: not trapped");
            }
            else
            {
                ulong bar0 = Pci.MemoryBar(nvme, 0);
                Serial.Write("bmcast-vmm: nvme: trapping the registers and doorbells of the controller at BAR0 ");
                Serial.WriteHex(bar0);
                Serial.WriteLine();
                NvmeMediation.Install(st, ref traps, bar0, memory->TakePages(NvmeMediation.StatePages));
            }
        }
        if (Smbios.HasOemString(st, "bmcast.vmm.nic=hide"))
        {
            long nic = Pci.Find(0x02, 0x00, 0x00);    // network, Ethernet
            if (nic < 0)
            {
                Serial.WriteLine("bmcast-vmm: nic: no Ethernet controller to hide");
            }
            else
            {
                ulong ecam = Acpi.FindEcamBase(st, out byte firstBus);
                Serial.Write("bmcast-vmm: nic: hiding PCI bus ");
                Serial.WriteDecimal((ulong)nic >> 16);
                Serial.Write(" device ");
                Serial.WriteDecimal((ulong)(nic >> 11) & 31);
                Serial.Write(" function ");
                Serial.WriteDecimal((ulong)(nic >> 8) & 7);
                Serial.WriteLine(" from the guest");
                PciConceal.Hide(ref traps, nic, ecam, firstBus);
            }
        }
    }

    private static bool NvmeRequested(SystemTable* st) => Smbios.HasOemString(st, "bmcast.vmm.nvme=trap");

    // Asked from guest mode: only our CPUID intercept answers this way.
    private static bool HypervisorAnswers()
    {
        uint* r = stackalloc uint[4];
        Cpu.CpuId(CpuidExit.HypervisorBase, 0, r);
        return r[1] == CpuidExit.VendorEbx && r[2] == CpuidExit.VendorEcx && r[3] == CpuidExit.VendorEdx;
    }

    private static ulong Refuse(string why, ulong status)
    {
        Serial.Write("bmcast-vmm: cannot virtualize: ");
        Serial.WriteLine(why);
        return status;
    }
}
