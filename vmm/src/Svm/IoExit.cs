using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// IN/OUT on a port in the I/O permission map. EXITINFO1 (APM vol. 2
// §15.10.2): bit 0 = IN, bit 2 = string, bits 4-6 = 8/16/32-bit, bits 16-31
// = port; EXITINFO2 = the next RIP, the one length SVM always gives us.
// A write is shown to the trap's device first; then every access is
// carried out on the real port.
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
        bool input = (info & 1) != 0;

        if (input)
        {
            ulong value = size == 1 ? Cpu.In8(port) : size == 2 ? Cpu.In16(port) : Cpu.In32(port);
            ulong keep = size == 4 ? ~0xFFFFFFFFul : size == 2 ? ~0xFFFFul : ~0xFFul;
            vmcb->Rax = (vmcb->Rax & keep) | value;
        }
        else
        {
            uint value = (uint)vmcb->Rax;
            vcpu->Trap.BeforeWrite(vcpu, (ushort)(port - vcpu->Trap.FirstPort), value);
            if (size == 1)
                Cpu.Out8(port, (byte)value);
            else if (size == 2)
                Cpu.Out16(port, (ushort)value);
            else
                Cpu.Out32(port, value);
        }
        GuestInstruction.Retire(vmcb, vmcb->ExitInfo2);
    }
}
