namespace Bmcast.Vmm.Svm;

// The core's only interface to devices (BitVisor's register handlers,
// include/core/dres.h, in miniature): a device registers port ranges and
// MMIO pages; the core traps them, decodes each access and asks the device,
// which either lets the core pass it through to the hardware or carries it
// out itself (for a read, filling in the value).
internal enum TrapResult
{
    Passthrough,
    Done,
}

// (vcpu, port, size in bytes, is write, value: the one written, or the one a read returns)
internal unsafe struct IoTrap
{
    public ushort FirstPort;
    public ushort PortCount;
    public delegate*<Vcpu*, ushort, int, bool, ulong*, TrapResult> Access;
}

// One 4 KiB page of guest physical memory, unmapped in the nested page table.
// (vcpu, offset in the page, size in bytes, is write, value)
internal unsafe struct MmioTrap
{
    public ulong Page;
    public delegate*<Vcpu*, uint, int, bool, ulong*, TrapResult> Access;
}

// The registered traps, in one reserved page: I/O traps in its first half,
// MMIO traps and the devices' power-off reports in its second.
internal unsafe struct TrapTable
{
    public const int MaxMmioTraps = 4;
    private const int MaxIoTraps = 2048 / 16, MaxReports = 8;

    public IoTrap* Io;
    public int IoCount;
    // Called at each guest HLT (intercepted only if set), after the HLT is
    // retired: the guest idles, the host may work for a bounded slice.
    public delegate*<Vcpu*, void> Idle;
    public MmioTrap* Mmio;
    public int MmioCount;
    private delegate*<void>* _reports;
    private int _reportCount;

    public static TrapTable In(byte* page) => new TrapTable
    {
        Io = (IoTrap*)page,
        Mmio = (MmioTrap*)(page + 2048),
        _reports = (delegate*<void>*)(page + 2048 + MaxMmioTraps * 16),
    };

    // A device's summary, printed when the guest powers off.
    public void AddReport(delegate*<void> report)
    {
        if (_reportCount == MaxReports)
            Platform.Panic.Halt("too many device reports");
        _reports[_reportCount++] = report;
    }

    public void ReportAll()
    {
        for (int i = 0; i < _reportCount; i++)
            _reports[i]();
    }

    public void Add(IoTrap trap)
    {
        if (IoCount == MaxIoTraps)
            Platform.Panic.Halt("too many I/O traps");
        Io[IoCount++] = trap;
    }

    public void Add(MmioTrap trap)
    {
        if (MmioCount == MaxMmioTraps)
            Platform.Panic.Halt("too many MMIO traps");
        Mmio[MmioCount++] = trap;
    }

    public IoTrap* FindIo(ushort port)
    {
        for (int i = 0; i < IoCount; i++)
        {
            if (port >= Io[i].FirstPort && port < Io[i].FirstPort + Io[i].PortCount)
                return &Io[i];
        }
        return null;
    }

    public MmioTrap* FindMmio(ulong page)
    {
        for (int i = 0; i < MmioCount; i++)
        {
            if (Mmio[i].Page == page)
                return &Mmio[i];
        }
        return null;
    }
}
