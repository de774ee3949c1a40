using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// #NPF on the trapped MMIO page (EXITINFO1 bit 1 = write, EXITINFO2 = guest
// physical address): decode the MOV, show a write to the device, carry the
// access out on the real page through the host's identity mapping, and
// retire the instruction.
internal static unsafe class MmioExit
{
    private const ulong PageMask = ~0xFFFul;

    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        ulong address = vmcb->ExitInfo2;
        if ((address & PageMask) != vcpu->Mmio.Page || vcpu->Mmio.Page == 0)
            Panic.Halt("nested page fault at guest physical", address);

        MmioInstruction insn = MmioInstruction.Decode(vmcb);
        var gprs = (ulong*)&vcpu->Registers;
        if (insn.IsWrite)
        {
            ulong value = insn.Register < 0 ? insn.Immediate : ReadRegister(vcpu, gprs, insn.Register);
            vcpu->Mmio.BeforeWrite(vcpu, (uint)(address & 0xFFF), insn.Size, value);
            Write(address, insn.Size, value);
        }
        else
        {
            WriteRegister(vcpu, gprs, insn.Register, insn.Size, Read(address, insn.Size));
        }
        GuestInstruction.Retire(vmcb, vmcb->Rip + (ulong)insn.Length);
    }

    // RAX and RSP live in the VMCB; the others in GuestRegisters by number.
    private static ulong ReadRegister(Vcpu* vcpu, ulong* gprs, int register) =>
        register == 0 ? vcpu->Vmcb->Rax : register == 4 ? vcpu->Vmcb->Rsp : gprs[register];

    private static void WriteRegister(Vcpu* vcpu, ulong* gprs, int register, int size, ulong value)
    {
        ulong* target = register == 0 ? &vcpu->Vmcb->Rax : register == 4 ? &vcpu->Vmcb->Rsp : &gprs[register];
        // 32-bit results zero-extend; 8- and 16-bit ones keep the upper bits.
        *target = size >= 4 ? value : (*target & ~((1ul << (8 * size)) - 1)) | value;
    }

    private static void Write(ulong address, int size, ulong value)
    {
        if (size == 1) *(byte*)address = (byte)value;
        else if (size == 2) *(ushort*)address = (ushort)value;
        else if (size == 4) *(uint*)address = (uint)value;
        else *(ulong*)address = value;
    }

    private static ulong Read(ulong address, int size) =>
        size == 1 ? *(byte*)address : size == 2 ? *(ushort*)address : size == 4 ? *(uint*)address : *(ulong*)address;
}
