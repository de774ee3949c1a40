namespace Bmcast.Vmm.Svm;

// The core's one hook for devices in stage 1: a range of I/O ports whose
// writes a device wants to see before they reach the hardware. Passing
// through stays the core's job, so a device can only observe, not break, it.
internal unsafe struct IoTrap
{
    public ushort FirstPort;
    public ushort PortCount;
    // (vcpu, offset of the port in the range, value written)
    public delegate*<Vcpu*, ushort, uint, void> BeforeWrite;
}
