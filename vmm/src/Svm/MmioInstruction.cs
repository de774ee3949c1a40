using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// Decodes the MOV that touched a trapped MMIO page (TCG gives neither the
// next RIP nor decode assists): drivers access device registers with plain
// MOV to or from a register, or of an immediate. Anything else stops the
// machine with the opcode, so a new form is seen, not mis-emulated.
internal unsafe struct MmioInstruction
{
    public int Length;
    public int Size;           // operand bytes: 1, 2, 4, 8
    public bool IsWrite;
    public int Register;       // x86 register number, or -1 for an immediate
    public ulong Immediate;

    public static MmioInstruction Decode(Vmcb* vmcb)
    {
        ulong rip = vmcb->Rip;
        int i = 0;
        bool operandSize16 = false;
        int rex = 0;
        byte b = GuestInstruction.ReadByte(vmcb, rip);
        for (; ; b = GuestInstruction.ReadByte(vmcb, rip + (ulong)++i))
        {
            if (b == 0x66)
                operandSize16 = true;
            else if (b == 0x2E || b == 0x3E || b == 0x26 || b == 0x36 || b == 0x64 || b == 0x65)
                continue;
            else if ((b & 0xF0) == 0x40)
                rex = b;
            else
                break;
        }

        var d = new MmioInstruction { Register = -1 };
        switch (b)
        {
            case 0x88: d.IsWrite = true; d.Size = 1; break;
            case 0x89: d.IsWrite = true; d.Size = 0; break;
            case 0x8A: d.Size = 1; break;
            case 0x8B: d.Size = 0; break;
            case 0xC6: d.IsWrite = true; d.Size = 1; break;
            case 0xC7: d.IsWrite = true; d.Size = 0; break;
            default:
                Panic.Halt("unsupported instruction on a trapped MMIO page, opcode", b);
                break;
        }
        if (d.Size == 0)
            d.Size = (rex & 8) != 0 ? 8 : operandSize16 ? 2 : 4;

        byte modrm = GuestInstruction.ReadByte(vmcb, rip + (ulong)++i);
        int mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
        i++;
        if (mod == 3)
            Panic.Halt("register operand in an MMIO access, modrm", modrm);
        if (rm == 4)
        {
            byte sib = GuestInstruction.ReadByte(vmcb, rip + (ulong)i++);
            if (mod == 0 && (sib & 7) == 5)
                i += 4;   // no base: disp32
        }
        if (mod == 0 && rm == 5)
            i += 4;       // RIP-relative disp32
        else if (mod == 1)
            i += 1;
        else if (mod == 2)
            i += 4;

        if (b == 0xC6 || b == 0xC7)
        {
            int immediateBytes = d.Size == 1 ? 1 : d.Size == 2 ? 2 : 4;
            ulong value = 0;
            for (int k = 0; k < immediateBytes; k++)
                value |= (ulong)GuestInstruction.ReadByte(vmcb, rip + (ulong)(i + k)) << (8 * k);
            if (d.Size == 8 && (value & 0x80000000) != 0)
                value |= 0xFFFFFFFF00000000;   // imm32 sign-extends to 64 bits
            d.Immediate = value;
            i += immediateBytes;
        }
        else
        {
            d.Register = reg | ((rex & 4) << 1);
            if (d.Size == 1 && rex == 0 && reg >= 4)
                Panic.Halt("AH/CH/DH/BH in an MMIO access, modrm", modrm);
        }
        d.Length = i;
        return d;
    }
}
