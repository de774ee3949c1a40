using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Devices;
using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Net;

// Before the launch, when configured (SMBIOS type 11 strings
// "bmcast.vmm.aoe=eS.L" and "bmcast.vmm.root=<64 hex digits>"): takes the
// e1000 and hides it from the guest, fetches the image's manifest from its
// companion slot (shelf S+1, slot L: `bmcast serve --aoe`'s default
// --aoe-manifest-shelf), checks it against the pinned root (the root hash
// `bmcast image inspect` prints; the hypervisor has no ECDSA, the pinned root
// is its trust anchor), reads chunks of the image from eS.L (the first, the
// last, the first zero chunk, and with "bmcast.vmm.aoe-verify=N" the first
// N) and verifies each against the manifest. One summary line on success.
// ("bmcast.vmm.aoe-drop=N" drops every Nth reply: a test's frame loss.)
// Any failure stops the machine with one line saying why: once the
// hypervisor streams, an OS started without its trusted image would run on a
// partly filled disk.
internal static unsafe class AoeStartupCheck
{
    private const string AddressOption = "bmcast.vmm.aoe=", RootOption = "bmcast.vmm.root=", VerifyOption = "bmcast.vmm.aoe-verify=",
        DropOption = "bmcast.vmm.aoe-drop=";

    private static AoeTarget s_image;
    private static ManifestView s_manifest;

    // What a passed check leaves for streaming: the image's target and its
    // manifest (held in reserved memory for good).
    public static bool Passed { get; private set; }
    public static AoeTarget Image => s_image;
    public static ManifestView Manifest => s_manifest;

    // The e1000's rings and buffers, the initiator's request table, one sector of scratch.
    public static ulong PagesNeeded(SystemTable* st) => Smbios.OemValue(st, AddressOption) == null ? 0 : E1000.Pages + 2;

    public static void RunIfRequested(SystemTable* st, ref TrapTable traps, ReservedMemory* memory)
    {
        byte* address = Smbios.OemValue(st, AddressOption);
        if (address == null)
            return;
        byte* root = stackalloc byte[Sha256.HashSize];
        if (!TryParseAddress(address, out ushort shelf, out byte slot))
            Refuse("bmcast.vmm.aoe is not eSHELF.SLOT (shelf 0-65533, slot 0-254)");
        if (!TryParseRoot(Smbios.OemValue(st, RootOption), root))
            Refuse("no bmcast.vmm.root=<64 hex digits>: nothing to trust the manifest by");
        ulong extra = ParseDecimal(Smbios.OemValue(st, VerifyOption));
        AoeInitiator.DropEvery(ParseDecimal(Smbios.OemValue(st, DropOption)));

        if (!Clock.TryCalibrate(st))
            Refuse("no ACPI PM timer to calibrate the TSC against");
        long nic = Pci.FindById(E1000.VendorId, E1000.DeviceId);
        if (nic < 0)
            Refuse("no e1000 (8086:100E) to speak AoE on");
        int firmwareDrivers = FirmwareDriverRelease.Release(st, nic);
        string why = E1000.Start(nic, memory->TakePages(E1000.Pages));
        if (why != null)
            Refuse(why);
        ulong ecam = Acpi.FindEcamBase(st, out byte firstBus);
        PciConceal.Hide(ref traps, nic, ecam, firstBus);
        Serial.Write("bmcast-vmm: aoe: e1000 at PCI ");
        Serial.WriteHex((ulong)nic);
        if (firmwareDrivers < 0)
        {
            Serial.Write(" (no firmware PCI I/O handle)");
        }
        else
        {
            Serial.Write(" (firmware drivers disconnected: ");
            Serial.WriteDecimal((ulong)firmwareDrivers);
            Serial.Write(')');
        }
        Serial.Write(", MAC ");
        WriteMac(E1000.Mac);
        Serial.Write(", TSC ");
        Serial.WriteDecimal(Clock.TicksPerMs / 1000);
        Serial.WriteLine(" MHz; hidden from the guest");

        AoeInitiator.Init(memory->TakePages(1));
        byte* sector = memory->TakePages(1);
        AoeTarget image, companion;
        if (!AoeInitiator.Discover(shelf, slot, out image))
            RefuseAoe("the image's target", shelf, slot);
        if (!AoeInitiator.Discover((ushort)(shelf + 1), slot, out companion))
            RefuseAoe("the manifest's companion", (ushort)(shelf + 1), slot);
        ulong started = Clock.Now, readUs = 0, readBytes = 0;

        // The manifest: its length from the first sector, then all of it, into memory reserved for good (stage 2 streams by it).
        if (!TimedRead(ref companion, 0, 1, sector, ref readUs, ref readBytes))
            RefuseAoe("the manifest's companion", companion.Major, companion.Minor);
        ulong length;
        if (!Companion.TryReadManifestLength(sector, companion.Sectors * AoeFrame.SectorSize, out length))
            Refuse("the companion slot holds no manifest frame");
        ulong sectors = (Companion.HeaderLength + length + AoeFrame.SectorSize - 1) / AoeFrame.SectorSize;
        ReservedMemory held;
        if (!ReservedMemory.TryReserve(st->BootServices, ReservedMemory.PagesFor(sectors * AoeFrame.SectorSize), out held))
            Refuse("no memory for the manifest");
        byte* framed = held.TakePages(ReservedMemory.PagesFor(sectors * AoeFrame.SectorSize));
        if (!TimedRead(ref companion, 0, sectors, framed, ref readUs, ref readBytes))
            RefuseAoe("the manifest's companion", companion.Major, companion.Minor);
        ManifestView manifest;
        ManifestStatus status = ManifestView.TryParse(framed + Companion.HeaderLength, length, out manifest);
        if (status == ManifestStatus.Valid)
            status = manifest.CheckRoot(root);
        if (status != ManifestStatus.Valid)
            Refuse(Describe(status));
        if ((manifest.ImageSize + AoeFrame.SectorSize - 1) / AoeFrame.SectorSize > image.Sectors)
            Refuse("the image's target is smaller than its manifest says");

        // Chunks, each verified before it counts.
        ReservedMemory chunkMemory;
        if (!ReservedMemory.TryReserve(st->BootServices, ReservedMemory.PagesFor(manifest.ChunkSize), out chunkMemory))
            Refuse("no memory for a chunk");
        byte* chunk = chunkMemory.TakePages(ReservedMemory.PagesFor(manifest.ChunkSize));
        ulong verified = 0;
        ulong first = extra == 0 ? 1 : extra > manifest.ChunkCount ? manifest.ChunkCount : extra;
        ulong last = manifest.ChunkCount - 1, zero = manifest.FirstZeroChunk();
        for (ulong c = 0; c < first; c++)
            Verify(ref image, ref manifest, c, chunk, ref readUs, ref readBytes, ref verified);
        if (last >= first)
            Verify(ref image, ref manifest, last, chunk, ref readUs, ref readBytes, ref verified);
        if (zero < last && zero >= first)
            Verify(ref image, ref manifest, zero, chunk, ref readUs, ref readBytes, ref verified);

        Serial.Write("bmcast-vmm: aoe: e");
        Serial.WriteDecimal(shelf);
        Serial.Write('.');
        Serial.WriteDecimal(slot);
        Serial.Write(" manifest ok root=");
        WriteHexBytes(root, 8);
        Serial.Write(" chunks=");
        Serial.WriteDecimal(manifest.ChunkCount);
        Serial.Write(" zero=");
        Serial.WriteDecimal(manifest.ZeroChunkCount);
        Serial.Write(" verified=");
        Serial.WriteDecimal(verified);
        Serial.Write(" sectors/frame=");
        Serial.WriteDecimal((ulong)image.SectorsPerFrame);
        Serial.Write(" read=");
        Serial.WriteDecimal(readBytes);
        Serial.Write(" bytes in ");
        Serial.WriteDecimal(readUs / 1000);
        Serial.Write(" ms MiB/s=");
        Serial.WriteDecimal(readUs == 0 ? 0 : readBytes * 1_000_000 / readUs / (1 << 20));
        Serial.Write(" resends=");
        Serial.WriteDecimal(AoeInitiator.Resends);
        Serial.Write(" total-ms=");
        Serial.WriteDecimal(Clock.MsSince(started));
        if (AoeInitiator.Dropped > 0)
        {
            Serial.Write(" injected-drops=");
            Serial.WriteDecimal(AoeInitiator.Dropped);
        }
        Serial.WriteLine();
        s_image = image;
        s_manifest = manifest;
        Passed = true;
    }

    private static void Verify(ref AoeTarget image, ref ManifestView manifest, ulong c, byte* buffer, ref ulong readUs, ref ulong readBytes, ref ulong verified)
    {
        ulong bytes = manifest.ChunkLength(c);
        ulong lba = c * manifest.ChunkSize / AoeFrame.SectorSize;
        if (!TimedRead(ref image, lba, (bytes + AoeFrame.SectorSize - 1) / AoeFrame.SectorSize, buffer, ref readUs, ref readBytes))
            RefuseAoe("the image's target", image.Major, image.Minor);
        if (!manifest.ChunkMatches(c, buffer, bytes))
        {
            Serial.Write("bmcast-vmm: aoe: chunk ");
            Serial.WriteDecimal(c);
            Serial.WriteLine(" does not match its hash in the manifest");
            Refuse("a chunk failed verification");
        }
        verified++;
    }

    private static bool TimedRead(ref AoeTarget target, ulong lba, ulong count, byte* destination, ref ulong us, ref ulong bytes)
    {
        ulong start = Clock.Now;
        bool ok = AoeInitiator.Read(ref target, lba, count, destination, null);
        us += Clock.MicrosecondsSince(start);
        bytes += count * AoeFrame.SectorSize;
        return ok;
    }

    private static string Describe(ManifestStatus status) => status switch
    {
        ManifestStatus.NotPinnedRoot => "the manifest's root hash is not the pinned bmcast.vmm.root",
        ManifestStatus.RootMismatch => "the manifest does not match its own root hash (damaged)",
        ManifestStatus.Truncated => "the manifest is truncated",
        _ => "the companion does not hold a valid manifest (header)",
    };

    private static void RefuseAoe(string what, ushort shelf, byte slot)
    {
        Serial.Write("bmcast-vmm: aoe: e");
        Serial.WriteDecimal(shelf);
        Serial.Write('.');
        Serial.WriteDecimal(slot);
        Serial.Write(" (");
        Serial.Write(what);
        Serial.Write("): ");
        Serial.WriteLine(AoeInitiator.LastError);
        Refuse("the image server did not serve what the check needs");
    }

    // Stops here: no OS boots unmediated once the hypervisor is configured to stream.
    private static void Refuse(string why)
    {
        Serial.Write("bmcast-vmm: aoe: refused: ");
        Serial.Write(why);
        Serial.WriteLine("; the machine stops");
        Cpu.HaltForever();
    }

    private static bool TryParseAddress(byte* s, out ushort shelf, out byte slot)
    {
        shelf = 0;
        slot = 0;
        if (s[0] != 'e')
            return false;
        s++;
        ulong major = 0, minor = 0;
        if (!TryParseNumber(ref s, '.', 65533, out major) || !TryParseNumber(ref s, '\0', 254, out minor))
            return false;
        shelf = (ushort)major;
        slot = (byte)minor;
        return true;
    }

    private static bool TryParseNumber(ref byte* s, char end, ulong max, out ulong value)
    {
        value = 0;
        int digits = 0;
        for (; *s >= '0' && *s <= '9' && digits < 10; s++, digits++)
            value = value * 10 + (ulong)(*s - '0');
        if (digits == 0 || *s != end || value > max)
            return false;
        s++;
        return true;
    }

    private static ulong ParseDecimal(byte* s)
    {
        ulong value;
        return s != null && TryParseNumber(ref s, '\0', 1_000_000_000, out value) ? value : 0;
    }

    private static bool TryParseRoot(byte* s, byte* root)
    {
        if (s == null)
            return false;
        for (int i = 0; i < 2 * Sha256.HashSize; i++)
        {
            int nibble = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10 : -1;
            if (nibble < 0)
                return false;
            root[i / 2] = (byte)(i % 2 == 0 ? nibble << 4 : root[i / 2] | nibble);
        }
        return s[2 * Sha256.HashSize] == 0;
    }

    private static void WriteMac(ulong mac)
    {
        for (int i = 0; i < 6; i++)
        {
            if (i > 0)
                Serial.Write(':');
            WriteHexByte((byte)(mac >> (8 * i)));
        }
    }

    private static void WriteHexBytes(byte* bytes, int count)
    {
        for (int i = 0; i < count; i++)
            WriteHexByte(bytes[i]);
    }

    private static void WriteHexByte(byte b)
    {
        Serial.Write((char)(b >> 4 < 10 ? '0' + (b >> 4) : 'a' + (b >> 4) - 10));
        Serial.Write((char)((b & 15) < 10 ? '0' + (b & 15) : 'a' + (b & 15) - 10));
    }
}
