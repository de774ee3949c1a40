using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// A region at the end of the namespace that neither the firmware nor the OS
// can see: the Identify Namespace answers they get report a size (NSZE, and
// NCAP/NUSE with it) smaller by the configured number of 4 KiB blocks. Stage
// c keeps the presence map there; only the private queue pair writes it.
internal static unsafe class HiddenTail
{
    public const ulong DefaultBlocks = 256;   // 1 MiB
    private const uint SizeOffset = 0, CapacityOffset = 8, UtilizationOffset = 16;   // NSZE, NCAP, NUSE
    private const uint FormattedLbaSizeOffset = 26, LbaFormatsOffset = 128;          // FLBAS, LBAF0..

    private static ulong s_configuredBlocks;
    private static uint s_namespace;   // 0 until measured
    private static ulong s_size, s_lbaSize, s_hidden;   // in logical blocks, as the controller counts

    public static void Configure(ulong blocks) => s_configuredBlocks = blocks;

    public static uint Namespace => s_namespace;
    public static ulong LbaSize => s_lbaSize;
    public static ulong HiddenLbas => s_hidden;
    public static ulong FirstHiddenLba => s_size - s_hidden;
    // The namespace's real size: a command starting here is out of range.
    public static ulong NamespaceLbas => s_size;

    // Something is hidden (namespace 1 was measured and is larger than the tail).
    public static bool Active => s_namespace != 0 && s_hidden != 0;

    public static bool Covers(uint namespaceId) => Active && namespaceId == s_namespace;

    // Through the admin channel: namespace 1's size and logical block size.
    public static void Measure()
    {
        s_namespace = 0;
        byte* data = PrivateQueuePair.Buffer;
        NvmeCommand command = default;
        command.Opcode = NvmeCommand.AdminIdentify;
        command.NamespaceId = 1;
        command.Prp1 = (ulong)data;
        command.Cdw10 = NvmeCommand.IdentifyNamespace;
        NvmeCompletion done;
        if (!AdminChannel.Execute(&command, &done, "Identify Namespace 1") || !PrivateQueuePair.Check(&done, "Identify Namespace 1"))
            return;
        s_size = *(ulong*)(data + SizeOffset);
        byte flbas = data[FormattedLbaSizeOffset];
        uint format = (uint)(flbas & 0xF) | (uint)((flbas >> 5) & 3) << 4;
        s_lbaSize = 1ul << data[LbaFormatsOffset + 4 * format + 2];   // LBADS: log2 of the size
        s_hidden = (s_configuredBlocks * 4096 + s_lbaSize - 1) / s_lbaSize;
        if (s_hidden >= s_size)
        {
            Serial.WriteLine("bmcast-vmm: nvme: FAILED: the hidden tail would cover the whole namespace; nothing hidden");
            s_hidden = 0;
        }
        s_namespace = 1;
        Serial.Write("bmcast-vmm: nvme: namespace 1: ");
        Serial.WriteDecimal(s_size);
        Serial.Write(" blocks of ");
        Serial.WriteDecimal(s_lbaSize);
        Serial.Write(" bytes, the last ");
        Serial.WriteDecimal(s_hidden);
        Serial.Write(" hidden from the guest (from LBA ");
        Serial.WriteDecimal(FirstHiddenLba);
        Serial.WriteLine(")");
    }

    // The guest's Identify Namespace answer, completed but not yet seen.
    public static void Patch(NvmeCommand* command)
    {
        ulong visible = s_size - s_hidden;
        GuestData.Write64(command, SizeOffset, visible);
        if (GuestData.Read64(command, CapacityOffset) > visible)
            GuestData.Write64(command, CapacityOffset, visible);
        if (GuestData.Read64(command, UtilizationOffset) > visible)
            GuestData.Write64(command, UtilizationOffset, visible);
    }
}
