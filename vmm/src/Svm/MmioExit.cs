using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// #NPF on a trapped MMIO page (EXITINFO2 = guest physical address): decode
// the MOV, let the trap's device answer or carry the access out on the real
// page through the host's identity mapping, and retire the instruction.
internal static unsafe class MmioExit
{
    private const ulong PageMask = ~0xFFFul;

    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        ulong address = vmcb->ExitInfo2;
        MmioTrap* trap = vcpu->Traps.FindMmio(address & PageMask);
        if (trap == null)
            Panic.Halt("nested page fault at guest physical", address);

        MmioInstruction insn = MmioInstruction.Decode(vmcb);
        var gprs = (ulong*)&vcpu->Registers;
        ulong value = !insn.IsWrite ? 0 : insn.Register < 0 ? insn.Immediate : ReadRegister(vcpu, gprs, insn.Register);
        if (trap->Access(vcpu, (uint)(address & 0xFFF), insn.Size, insn.IsWrite, &value) == TrapResult.Passthrough)
        {
            if (insn.IsWrite)
                Write(address, insn.Size, value);
            else
                value = Read(address, insn.Size);
        }
        if (!insn.IsWrite)
            WriteRegister(vcpu, gprs, insn.Register, insn.Size, value & SizeMask(insn.Size));
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

    private static ulong SizeMask(int size) => size == 8 ? ~0ul : (1ul << (8 * size)) - 1;

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
