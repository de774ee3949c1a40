using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Net;
using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Streaming;

// Before the launch, once the NVMe controller is trapped and the AoE check
// passed: reserves what streaming needs, sized from the manifest (the two
// chunk maps, the fetch buffer (a run of chunks), the map's slot buffer and the table of
// pending write claims; the manifest with its chunk hashes is
// already held in reserved memory by the check), installs the policy and,
// unless "bmcast.vmm.background=off" (on-demand only: a test's way to keep
// chunks absent), the background copy at guest HLTs, and with
// "bmcast.vmm.hold-at-complete" the host's hold at completion. A machine whose
// firmware lists more than one CPU is stopped: only this one is mediated.
internal static unsafe class StreamingSetup
{
    public static void Install(SystemTable* st, ref TrapTable traps, ManifestView manifest, AoeTarget image)
    {
        // Only this CPU is virtualized: another one would reach the disk unmediated.
        uint cpus = Acpi.CountProcessors(st);
        if (cpus != 1)
        {
            Serial.Write("bmcast-vmm: event=error reason=cpus cpus=");
            Serial.WriteDecimal(cpus);
            Serial.WriteLine();
            Serial.WriteLine("bmcast-vmm: streaming refused: the hypervisor virtualizes one CPU, the firmware lists another number; the machine stops");
            Cpu.HaltForever();
        }
        ulong mapPages = ChunkMap.PagesFor(manifest.ChunkCount);
        ulong bufferPages = ChunkFetcher.BufferPagesFor(manifest.ChunkSize);
        ulong slotPages = PresenceStore.PagesFor(manifest.ChunkCount);
        ReservedMemory memory;
        if (!ReservedMemory.TryReserve(st->BootServices, mapPages + bufferPages + slotPages + PendingWrites.Pages, out memory))
            Platform.Panic.Halt("no memory for the chunk maps");
        ChunkMap.Place(memory.TakePages(mapPages), manifest.ChunkCount);
        ChunkFetcher.Attach(manifest, image, memory.TakePages(bufferPages));
        PresenceStore.Attach(memory.TakePages(slotPages), manifest.EmbeddedRoot, manifest.ChunkSize);
        PendingWrites.Place(memory.TakePages(PendingWrites.Pages));
        IoInterceptor.Install(&StreamingPolicy.Submitted, &StreamingPolicy.ControllerEnabled, &StreamingPolicy.Completed);
        traps.AddReport(&StreamEvents.Report);
        if (!Smbios.HasOemString(st, "bmcast.vmm.background=off"))
            traps.Idle = &BackgroundCopy.Idle;
        CompletionHold.Enabled = Smbios.HasOemString(st, "bmcast.vmm.hold-at-complete");
        StreamEvents.Started(manifest.ImageSize, manifest.ChunkSize, manifest.ZeroChunkCount,
            memory.Size + manifest.BodyLength + ManifestView.HashSize);
    }
}
