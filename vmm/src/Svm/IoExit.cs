using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// IN/OUT on a port in the I/O permission map. EXITINFO1 (APM vol. 2
// §15.10.2): bit 0 = IN, bit 2 = string, bits 4-6 = 8/16/32-bit, bits 16-31
// = port; EXITINFO2 = the next RIP, the one length SVM always gives us.
// The trap's device answers or lets the access through to the real port.
internal static unsafe class IoExit
{
    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        ulong info = vmcb->ExitInfo1;
        if ((info & 4) != 0)
            Panic.Halt("string I/O on an intercepted port, exitinfo1", info);
        ushort port = (ushort)(info >> 16);
        int size = (info & 0x10) != 0 ? 1 : (info & 0x20) != 0 ? 2 : 4;
        bool write = (info & 1) == 0;
        ulong mask = size == 4 ? 0xFFFFFFFFul : size == 2 ? 0xFFFFul : 0xFFul;

        IoTrap* trap = vcpu->Traps.FindIo(port);
        if (trap == null)
            Panic.Halt("I/O exit on a port no device trapped", port);
        ulong value = write ? vmcb->Rax & mask : 0;
        if (trap->Access(vcpu, port, size, write, &value) == TrapResult.Passthrough)
        {
            if (write)
                Out(port, size, (uint)value);
            else
                value = In(port, size);
        }
        if (!write)
            vmcb->Rax = (vmcb->Rax & ~mask) | (value & mask);
        GuestInstruction.Retire(vmcb, vmcb->ExitInfo2);
    }

    private static void Out(ushort port, int size, uint value)
    {
        if (size == 1)
            Cpu.Out8(port, (byte)value);
        else if (size == 2)
            Cpu.Out16(port, (ushort)value);
        else
            Cpu.Out32(port, value);
    }

    private static ulong In(ushort port, int size) =>
        size == 1 ? Cpu.In8(port) : size == 2 ? Cpu.In16(port) : Cpu.In32(port);
}
