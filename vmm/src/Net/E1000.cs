using System.Runtime.InteropServices;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Net;

// A polled driver for the Intel 82540EM (e1000, 8086:100E), the NIC the
// hypervisor keeps for itself (hidden from the guest by PciConceal): reset,
// MAC from the EEPROM, legacy receive and transmit descriptor rings, 16 KiB
// buffers so one descriptor holds any frame up to the 16,128 bytes RCTL.LPE
// allows (MTU 9000 included). No interrupts (all masked): the host polls.
// Both ring tails are written in batches: a tail register is device MMIO (an
// exit into the device model under emulation, a posted PCIe write on
// hardware), and at MTU 1500 a 64 KiB chunk is 64 frames. Received
// descriptors go back every RxReleaseBatch frames or when nothing is left to
// read; queued frames go out at the next Poll, or when the transmit ring
// needs a descriptor back.
// Registers: Intel 8254x Software Developer's Manual, §13.
internal static unsafe class E1000
{
    public const ushort VendorId = 0x8086, DeviceId = 0x100E;
    public const int RxCount = 32, TxCount = 8;
    // Half the ring: the device keeps at least RxCount - RxReleaseBatch descriptors, as many as the
    // initiator's window of replies (AoeInitiator.Window).
    private const int RxReleaseBatch = 16;
    public const int BufferSize = 16384;
    public const int MaxFrame = BufferSize;
    // Both rings fit one page each (16-byte descriptors); then the buffers.
    public const ulong Pages = 2 + (ulong)(RxCount + TxCount) * BufferSize / 4096;

    private const uint Ctrl = 0x0000, Status = 0x0008, Eerd = 0x0014, Imc = 0x00D8;
    private const uint Rctl = 0x0100, Tctl = 0x0400, Tipg = 0x0410;
    private const uint Rdbal = 0x2800, Rdbah = 0x2804, Rdlen = 0x2808, Rdh = 0x2810, Rdt = 0x2818;
    private const uint Tdbal = 0x3800, Tdbah = 0x3804, Tdlen = 0x3808, Tdh = 0x3810, Tdt = 0x3818;
    private const uint Mta = 0x5200, Ral0 = 0x5400, Rah0 = 0x5404;

    private const uint CtrlSetLinkUp = 1u << 6, CtrlReset = 1u << 26;
    private const uint StatusLinkUp = 1u << 1;
    private const uint EerdStart = 1u << 0, EerdDone = 1u << 4;
    private const uint RctlEnable = 1u << 1, RctlLongPackets = 1u << 5, RctlBroadcast = 1u << 15,
        RctlSize16K = 1u << 16 | 1u << 25 /*BSIZE 01 with BSEX*/, RctlStripCrc = 1u << 26;
    private const uint TctlEnable = 1u << 1, TctlPadShort = 1u << 3, TctlCollisionThreshold = 0x0F << 4, TctlCollisionDistance = 0x40 << 12;
    private const byte TxEndOfPacket = 0x01, TxInsertCrc = 0x02, TxReportStatus = 0x08;
    private const ulong WaitMs = 2000;   // any register or descriptor wait: QEMU answers at once, hardware in microseconds
    private const byte DescriptorDone = 0x01, RxEndOfPacket = 0x02;

    [StructLayout(LayoutKind.Sequential)]
    private struct RxDescriptor
    {
        public ulong Buffer;
        public ushort Length;
        public ushort Checksum;
        public volatile byte Status;
        public byte Errors;
        public ushort Special;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TxDescriptor
    {
        public ulong Buffer;
        public ushort Length;
        public byte ChecksumOffset;
        public byte Command;
        public volatile byte Status;
        public byte ChecksumStart;
        public ushort Special;
    }

    // One 32-bit device register; volatile so that polls re-read it.
    private struct Register
    {
        public volatile uint Value;
    }

    private static byte* s_registers;
    private static RxDescriptor* s_rx;
    private static TxDescriptor* s_tx;
    private static byte* s_rxBuffers, s_txBuffers;
    private static uint s_rxNext, s_txNext;
    private static uint s_rxHeld, s_txQueued;   // released descriptors and queued frames whose tail write is due
    private static ulong s_txUsed;   // bit i: descriptor i was handed to the device at least once

    // Writes of the receive and transmit tails (against frames received and
    // sent: what the batching saves), and their time.
    public static TailWrites RxTail, TxTail;

    public static ulong Mac { get; private set; }

    // Takes the device at this PCI location; pages: Pages zeroed pages of reserved memory.
    // Returns null on success, else why not.
    public static string Start(long location, byte* pages)
    {
        Pci.Write32(location, Pci.Command, (Pci.Read32(location, Pci.Command) & 0xFFFF) | Pci.CommandMemory | Pci.CommandBusMaster);
        s_registers = (byte*)Pci.MemoryBar(location, 0);
        if (s_registers == null)
            return "BAR0 is not assigned";
        Write(Imc, 0xFFFFFFFF);
        Write(Ctrl, Read(Ctrl) | CtrlReset);
        if (!WaitFor(Ctrl, CtrlReset, 0))
            return "the reset did not complete";
        Write(Imc, 0xFFFFFFFF);   // the reset unmasks nothing, but be explicit: this driver polls
        Write(Ctrl, Read(Ctrl) | CtrlSetLinkUp);

        ulong mac = 0;
        for (uint word = 0; word < 3; word++)
        {
            Write(Eerd, word << 8 | EerdStart);
            if (!WaitFor(Eerd, EerdDone, EerdDone))
                return "the EEPROM did not answer";
            mac |= (ulong)(Read(Eerd) >> 16) << (int)(16 * word);
        }
        Mac = mac;
        Write(Ral0, (uint)mac);
        Write(Rah0, (uint)(mac >> 32) | 1u << 31);   // address valid
        for (uint i = 0; i < 128; i++)
            Write(Mta + 4 * i, 0);

        s_rx = (RxDescriptor*)pages;
        s_tx = (TxDescriptor*)(pages + 4096);
        s_rxBuffers = pages + 2 * 4096;
        s_txBuffers = s_rxBuffers + RxCount * BufferSize;
        for (int i = 0; i < RxCount; i++)
            s_rx[i].Buffer = (ulong)(s_rxBuffers + i * BufferSize);
        Write(Rdbal, (uint)(ulong)s_rx);
        Write(Rdbah, (uint)((ulong)s_rx >> 32));
        Write(Rdlen, (uint)(RxCount * sizeof(RxDescriptor)));
        Write(Rdh, 0);
        Write(Rdt, RxCount - 1);   // the device owns all but one descriptor
        Write(Rctl, RctlEnable | RctlLongPackets | RctlBroadcast | RctlSize16K | RctlStripCrc);

        Write(Tdbal, (uint)(ulong)s_tx);
        Write(Tdbah, (uint)((ulong)s_tx >> 32));
        Write(Tdlen, (uint)(TxCount * sizeof(TxDescriptor)));
        Write(Tdh, 0);
        Write(Tdt, 0);
        Write(Tipg, 10 | 8 << 10 | 6 << 20);   // the manual's values for IEEE 802.3
        Write(Tctl, TctlEnable | TctlPadShort | TctlCollisionThreshold | TctlCollisionDistance);
        s_rxNext = 0;
        s_txNext = 0;
        s_rxHeld = 0;
        s_txQueued = 0;
        s_txUsed = 0;
        if (!WaitFor(Status, StatusLinkUp, StatusLinkUp))
            return "the link is down";
        return null;
    }

    // The buffer of the next transmit descriptor, once the device is done
    // with it and with the one after it (bounded wait): the tail must never
    // catch up with the head, which would read as an empty ring. Fill it,
    // then Transmit. Null if the device hangs.
    public static byte* NextTxBuffer()
    {
        uint after = (s_txNext + 1) % TxCount;
        if (!TxFree(s_txNext) || !TxFree(after))
        {
            FlushTransmit();   // they may be queued frames
            for (ulong start = Clock.Now; !TxFree(s_txNext) || !TxFree(after);)
            {
                if (Clock.MsSince(start) > WaitMs)
                    return null;
            }
        }
        return s_txBuffers + s_txNext * BufferSize;
    }

    private static bool TxFree(uint i) => (s_txUsed >> (int)i & 1) == 0 || (s_tx[i].Status & DescriptorDone) != 0;

    // Queues the frame; it goes out at the next Poll (or NextTxBuffer), so a
    // burst of frames takes one tail write.
    public static void Transmit(int length)
    {
        TxDescriptor* d = s_tx + s_txNext;
        d->Buffer = (ulong)(s_txBuffers + s_txNext * BufferSize);
        d->Length = (ushort)length;
        d->Command = TxEndOfPacket | TxInsertCrc | TxReportStatus;
        d->Status = 0;
        s_txUsed |= 1UL << (int)s_txNext;
        s_txNext = (s_txNext + 1) % TxCount;
        s_txQueued++;
    }

    // The next received frame (its length in length), or null when none has
    // arrived; give it back with Release before polling again. Sends the
    // queued frames first.
    public static byte* Poll(out int length)
    {
        length = 0;
        FlushTransmit();
        RxDescriptor* d = s_rx + s_rxNext;
        if ((d->Status & DescriptorDone) == 0)
        {
            ReturnReleased();   // nothing to read: the device gets every free descriptor back
            return null;
        }
        if ((d->Status & RxEndOfPacket) == 0 || d->Errors != 0)
        {
            Release();   // a frame spread over descriptors or damaged: not ours to read
            return null;
        }
        length = d->Length;
        return s_rxBuffers + s_rxNext * BufferSize;
    }

    // Returns the descriptor Poll handed out, to the device with the next
    // batch.
    public static void Release()
    {
        s_rx[s_rxNext].Status = 0;
        s_rxNext = (s_rxNext + 1) % RxCount;
        if (++s_rxHeld >= RxReleaseBatch)
            ReturnReleased();
    }

    // The receive tail stays one behind the next descriptor to read.
    private static void ReturnReleased()
    {
        if (s_rxHeld == 0)
            return;
        s_rxHeld = 0;
        RxTail.Write(Rdt, (s_rxNext + RxCount - 1) % RxCount);
    }

    private static void FlushTransmit()
    {
        if (s_txQueued == 0)
            return;
        s_txQueued = 0;
        TxTail.Write(Tdt, s_txNext);
    }

    // One ring tail's writes, counted and timed (TSC ticks).
    public struct TailWrites
    {
        public ulong Count, Ticks;

        public void Write(uint register, uint value)
        {
            Count++;
            ulong started = Clock.Now;
            E1000.Write(register, value);
            Ticks += Clock.Now - started;
        }
    }

    private static uint Read(uint register) => ((Register*)(s_registers + register))->Value;

    private static void Write(uint register, uint value) => ((Register*)(s_registers + register))->Value = value;

    // Polls a register for up to WaitMs (the Clock is calibrated before the NIC starts).
    private static bool WaitFor(uint register, uint mask, uint wanted)
    {
        for (ulong start = Clock.Now; Clock.MsSince(start) < WaitMs;)
        {
            if ((Read(register) & mask) == wanted)
                return true;
        }
        return false;
    }
}
