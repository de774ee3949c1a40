using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// Shows at each controller enable that the private pair carries data: it
// reads LBA 1 (a GPT disk's header, "EFI PART") and writes a block at the
// start of the hidden tail, then reads it back and compares. Serial lines
// only; the guest is unaffected.
internal static unsafe class PrivateIoCheck
{
    public static void Run()
    {
        uint ns = HiddenTail.Namespace;
        if (PrivateQueuePair.Id == 0 || ns == 0 || HiddenTail.LbaSize > 4096)
            return;
        byte* block = PrivateQueuePair.Buffer;
        var size = (uint)HiddenTail.LbaSize;

        Serial.Write("bmcast-vmm: nvme: private read of LBA 1: ");
        if (!PrivateQueuePair.Read(ns, 1))
            Serial.WriteLine("FAILED");
        else
            Serial.WriteLine(Matches(block, "EFI PART") ? "EFI PART" : "no GPT signature");

        if (HiddenTail.HiddenLbas == 0)
            return;
        ulong lba = HiddenTail.FirstHiddenLba;
        for (uint i = 0; i < size; i++)
            block[i] = Pattern(lba, i);
        bool written = PrivateQueuePair.Write(ns, lba);
        Memory.Zero(block, size);
        bool same = written && PrivateQueuePair.Read(ns, lba);
        for (uint i = 0; same && i < size; i++)
            same = block[i] == Pattern(lba, i);
        Serial.Write(same ? "bmcast-vmm: nvme: private write of hidden LBA " : "bmcast-vmm: nvme: FAILED: private write of hidden LBA ");
        Serial.WriteDecimal(lba);
        Serial.WriteLine(same ? " read back equal" : " not read back equal");
    }

    private static byte Pattern(ulong lba, uint index) => (byte)(index * 7 + lba);

    private static bool Matches(byte* bytes, string expected)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (bytes[i] != expected[i])
                return false;
        }
        return true;
    }
}
