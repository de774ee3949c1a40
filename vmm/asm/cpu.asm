; Privileged instructions for the C# hypervisor, Microsoft x64 calling
; convention (UEFI): arguments in rcx, rdx, r8, r9; result in rax;
; rbx, rbp, rdi, rsi, r12-r15 and xmm6-xmm15 are callee-saved.
bits 64
default rel
section .text

global cpu_out8, cpu_out16, cpu_out32, cpu_in8, cpu_in16, cpu_in32
cpu_out8:
    mov eax, edx
    mov dx, cx
    out dx, al
    ret
cpu_out16:
    mov eax, edx
    mov dx, cx
    out dx, ax
    ret
cpu_out32:
    mov eax, edx
    mov dx, cx
    out dx, eax
    ret
cpu_in8:
    mov dx, cx
    xor eax, eax
    in al, dx
    ret
cpu_in16:
    mov dx, cx
    xor eax, eax
    in ax, dx
    ret
cpu_in32:
    mov dx, cx
    in eax, dx
    ret

global cpu_rdtsc
cpu_rdtsc:                      ; the time-stamp counter (Platform/Clock.cs)
    rdtsc
    shl rdx, 32
    or rax, rdx
    ret

global cpu_rdmsr, cpu_wrmsr
cpu_rdmsr:
    rdmsr
    shl rdx, 32
    or rax, rdx
    ret
cpu_wrmsr:
    mov rax, rdx
    shr rdx, 32
    wrmsr
    ret

global cpu_cpuid
cpu_cpuid:                      ; (leaf, subleaf, uint* regs)
    push rbx
    mov eax, ecx
    mov ecx, edx
    cpuid
    mov [r8], eax
    mov [r8 + 4], ebx
    mov [r8 + 8], ecx
    mov [r8 + 12], edx
    pop rbx
    ret

global cpu_read_cr0, cpu_read_cr2, cpu_read_cr3, cpu_read_cr4, cpu_write_cr3, cpu_read_dr7
cpu_read_cr0:
    mov rax, cr0
    ret
cpu_read_cr2:
    mov rax, cr2
    ret
cpu_read_cr3:
    mov rax, cr3
    ret
cpu_read_cr4:
    mov rax, cr4
    ret
cpu_write_cr3:
    mov cr3, rcx
    ret
cpu_read_dr7:
    mov rax, dr7
    ret

global cpu_sgdt, cpu_sidt
cpu_sgdt:
    sgdt [rcx]
    ret
cpu_sidt:
    sidt [rcx]
    ret

global cpu_read_selector
cpu_read_selector:              ; (int segment) 0 ES 1 CS 2 SS 3 DS 4 FS 5 GS 6 LDTR 7 TR
    xor eax, eax
    cmp ecx, 0
    je .es
    cmp ecx, 1
    je .cs
    cmp ecx, 2
    je .ss
    cmp ecx, 3
    je .ds
    cmp ecx, 4
    je .fs
    cmp ecx, 5
    je .gs
    cmp ecx, 6
    je .ldtr
    str ax
    ret
.es: mov ax, es
    ret
.cs: mov ax, cs
    ret
.ss: mov ax, ss
    ret
.ds: mov ax, ds
    ret
.fs: mov ax, fs
    ret
.gs: mov ax, gs
    ret
.ldtr: sldt ax
    ret

global cpu_lar, cpu_lsl
cpu_lar:
    xor eax, eax
    lar eax, cx
    jz .ok
    xor eax, eax
.ok:
    ret
cpu_lsl:
    xor eax, eax
    lsl eax, cx
    jz .ok
    xor eax, eax
.ok:
    ret

global cpu_lgdt, cpu_lidt
cpu_lgdt:
    lgdt [rcx]
    ret
cpu_lidt:
    lidt [rcx]
    ret

global cpu_halt_forever
cpu_halt_forever:
    cli
.again:
    hlt
    jmp .again

; ---------------------------------------------------------------------------
; SVM. Offsets into the VMCB save area (AMD APM vol. 2, appendix B).
VMCB_RFLAGS equ 0x570
VMCB_RIP    equ 0x578
VMCB_RSP    equ 0x5D8
VMCB_RAX    equ 0x5F8

; GuestRegisters (Svm/GuestRegisters.cs): 16 GPR slots by x86 register
; number (rax and rsp unused: they live in the VMCB), then the guest's and
; the host's FXSAVE areas.
R_RCX equ 1*8
R_RDX equ 2*8
R_RBX equ 3*8
R_RBP equ 5*8
R_RSI equ 6*8
R_RDI equ 7*8
R_R8  equ 8*8
R_R9  equ 9*8
R_R10 equ 10*8
R_R11 equ 11*8
R_R12 equ 12*8
R_R13 equ 13*8
R_R14 equ 14*8
R_R15 equ 15*8
R_GUEST_FX equ 16*8
R_HOST_FX  equ 17*8

; int svm_launch(Vmcb* vmcb, void* hostStackTop, void (*hostEntry)(void*), void* hostArg)
; Virtualizes the running CPU. The VMCB (its other state already captured
; by the caller) gets this function's own return path as the guest's RIP and
; RSP; then the host switches to its own stack and runs hostEntry, which
; VMRUNs and never returns. The guest therefore resumes at .guest_resume on
; the caller's stack and returns 1 from this call: "now virtualized".
global svm_launch
svm_launch:
    push rbx
    push rbp
    push rdi
    push rsi
    push r12
    push r13
    push r14
    push r15
    sub rsp, 168
    movdqu [rsp + 0*16], xmm6
    movdqu [rsp + 1*16], xmm7
    movdqu [rsp + 2*16], xmm8
    movdqu [rsp + 3*16], xmm9
    movdqu [rsp + 4*16], xmm10
    movdqu [rsp + 5*16], xmm11
    movdqu [rsp + 6*16], xmm12
    movdqu [rsp + 7*16], xmm13
    movdqu [rsp + 8*16], xmm14
    movdqu [rsp + 9*16], xmm15
    mov [rcx + VMCB_RSP], rsp
    lea rax, [.guest_resume]
    mov [rcx + VMCB_RIP], rax
    pushfq
    pop rax
    mov [rcx + VMCB_RFLAGS], rax
    mov qword [rcx + VMCB_RAX], 0
    cli                         ; the host runs with interrupts off (and GIF=0 after exits)
    mov rsp, rdx
    sub rsp, 32                 ; shadow space; hostStackTop is 16-byte aligned
    mov rcx, r9
    call r8
    ud2
.guest_resume:
    movdqu xmm6, [rsp + 0*16]
    movdqu xmm7, [rsp + 1*16]
    movdqu xmm8, [rsp + 2*16]
    movdqu xmm9, [rsp + 3*16]
    movdqu xmm10, [rsp + 4*16]
    movdqu xmm11, [rsp + 5*16]
    movdqu xmm12, [rsp + 6*16]
    movdqu xmm13, [rsp + 7*16]
    movdqu xmm14, [rsp + 8*16]
    movdqu xmm15, [rsp + 9*16]
    add rsp, 168
    pop r15
    pop r14
    pop r13
    pop r12
    pop rsi
    pop rdi
    pop rbp
    pop rbx
    mov eax, 1
    ret

; void svm_run_guest(GuestRegisters* regs, ulong vmcbPhysical)
; One VMRUN: load the guest's GPRs and FPU/SSE state, run until #VMEXIT,
; store them back. VMRUN/#VMEXIT switch only RAX, RSP, RIP, RFLAGS, CRs,
; EFER and ES/CS/SS/DS; FS, GS, TR, LDTR and the syscall MSRs are never
; touched by the host, so they simply stay the guest's (no VMLOAD/VMSAVE).
global svm_run_guest
svm_run_guest:
    push rbx
    push rbp
    push rdi
    push rsi
    push r12
    push r13
    push r14
    push r15
    push rcx
    mov rax, [rcx + R_HOST_FX]
    o64 fxsave [rax]
    mov rax, [rcx + R_GUEST_FX]
    o64 fxrstor [rax]
    mov rax, rdx
    mov rdx, [rcx + R_RDX]
    mov rbx, [rcx + R_RBX]
    mov rbp, [rcx + R_RBP]
    mov rsi, [rcx + R_RSI]
    mov rdi, [rcx + R_RDI]
    mov r8,  [rcx + R_R8]
    mov r9,  [rcx + R_R9]
    mov r10, [rcx + R_R10]
    mov r11, [rcx + R_R11]
    mov r12, [rcx + R_R12]
    mov r13, [rcx + R_R13]
    mov r14, [rcx + R_R14]
    mov r15, [rcx + R_R15]
    mov rcx, [rcx + R_RCX]
    vmrun                       ; VMCB physical address in rax
    push rcx
    mov rcx, [rsp + 8]
    mov [rcx + R_RDX], rdx
    mov [rcx + R_RBX], rbx
    mov [rcx + R_RBP], rbp
    mov [rcx + R_RSI], rsi
    mov [rcx + R_RDI], rdi
    mov [rcx + R_R8],  r8
    mov [rcx + R_R9],  r9
    mov [rcx + R_R10], r10
    mov [rcx + R_R11], r11
    mov [rcx + R_R12], r12
    mov [rcx + R_R13], r13
    mov [rcx + R_R14], r14
    mov [rcx + R_R15], r15
    pop rax
    mov [rcx + R_RCX], rax
    mov rax, [rcx + R_GUEST_FX]
    o64 fxsave [rax]
    mov rax, [rcx + R_HOST_FX]
    o64 fxrstor [rax]
    pop rcx
    pop r15
    pop r14
    pop r13
    pop r12
    pop rsi
    pop rdi
    pop rbp
    pop rbx
    ret

; ---------------------------------------------------------------------------
; void cpu_set_paging(ulong cr3, ulong cr4, ushort code32Selector)
; Loads new paging roots even when CR4.LA57 changes, which long mode
; forbids: drop to 32-bit compatibility mode, turn paging off (long mode
; goes inactive), load CR4 and CR3, turn paging on again (EFER.LME is still
; set), far-jump back to 64-bit code. Code, stack and both sets of tables
; must be below 4 GiB and identity-mapped in both; interrupts must be off.
global cpu_set_paging
cpu_set_paging:
    push rbx
    push rbp
    mov rbp, rsp
    sub rsp, 16
    lea rax, [.long64]          ; [rsp]: far pointer back to 64-bit code
    mov [rsp], eax
    mov ax, cs
    mov [rsp + 4], ax
    lea rax, [.compat32]        ; [rsp + 8]: far pointer to the 32-bit code
    mov [rsp + 8], eax
    mov [rsp + 12], r8w
    mov rbx, rsp
    jmp far dword [rsp + 8]
bits 32
.compat32:
    mov eax, cr0
    and eax, 0x7FFFFFFF
    mov cr0, eax
    mov cr4, edx
    mov cr3, ecx
    or eax, 0x80000000
    mov cr0, eax
    jmp far dword [ebx]
bits 64
.long64:
    mov rsp, rbp
    pop rbp
    pop rbx
    ret

; LeaveFrame (Svm/LeaveFrame.cs): the guest state to load into the real CPU
; when the hypervisor leaves. Pointers in it are already valid in both the
; host's and the guest's address space (see Svm/Devirtualizer.cs).
L_RAX equ 0
L_RCX equ 8
L_RDX equ 16
L_RBX equ 24
L_RBP equ 40
L_RSI equ 48
L_RDI equ 56
L_R8  equ 64
L_R9  equ 72
L_R10 equ 80
L_R11 equ 88
L_R12 equ 96
L_R13 equ 104
L_R14 equ 112
L_R15 equ 120
L_RIP equ 128
L_CS  equ 136
L_RFLAGS equ 144
L_RSP equ 152
L_SS  equ 160
L_DS  equ 168
L_ES  equ 176
L_CR0 equ 184
L_CR2 equ 192
L_CR3 equ 200
L_CR4 equ 208
L_DR7 equ 216
L_EFER equ 224
L_PAT equ 232
L_GDTR equ 240                  ; 10-byte pseudo-descriptor
L_IDTR equ 256
L_FX_AREA equ 272               ; pointer
L_STACK_TOP equ 280             ; pointer
L_SLOT_ENTRY equ 288            ; pointer to the guest's top-level entry mapping us

; void svm_leave(LeaveFrame* frame, ulong slotBase)
; De-virtualization: continues at .trampoline's alias in the shared slot
; (its identity address + slotBase; frame is already such an alias), moves
; into the guest's address space, loads the guest state into the real CPU,
; turns SVM off, removes the slot from the guest's page table and IRETQs
; into the guest, which from then on runs on bare hardware.
global svm_leave
svm_leave:
    lea rax, [.trampoline]
    add rax, rdx
    jmp rax
.trampoline:
    mov rsp, [rcx + L_STACK_TOP]
    mov rax, [rcx + L_FX_AREA]
    o64 fxrstor [rax]           ; before CR0: the guest's CR0.TS may be set
    mov rax, [rcx + L_CR4]
    mov cr4, rax
    mov rax, [rcx + L_CR3]
    mov cr3, rax                ; the guest's address space: the slot maps us here too
    lgdt [rcx + L_GDTR]
    lidt [rcx + L_IDTR]
    mov rax, [rcx + L_CR0]
    mov cr0, rax
    mov rax, [rcx + L_CR2]
    mov cr2, rax
    mov rax, [rcx + L_DR7]
    mov dr7, rax
    mov ax, [rcx + L_DS]
    mov ds, ax
    mov ax, [rcx + L_ES]
    mov es, ax
    mov r8, rcx
    mov ecx, 0x277              ; PAT
    mov eax, [r8 + L_PAT]
    mov edx, [r8 + L_PAT + 4]
    wrmsr
    stgi                        ; GIF back to 1 while EFER.SVME still allows it
    mov ecx, 0xC0000080         ; EFER, without SVME: SVM is off
    mov eax, [r8 + L_EFER]
    mov edx, [r8 + L_EFER + 4]
    wrmsr
    push qword [r8 + L_SS]      ; IRETQ frame
    push qword [r8 + L_RSP]
    push qword [r8 + L_RFLAGS]
    push qword [r8 + L_CS]
    push qword [r8 + L_RIP]
    push qword [r8 + L_RAX]
    mov rbx, [r8 + L_RBX]
    mov rcx, [r8 + L_RCX]
    mov rdx, [r8 + L_RDX]
    mov rbp, [r8 + L_RBP]
    mov rsi, [r8 + L_RSI]
    mov rdi, [r8 + L_RDI]
    mov r9,  [r8 + L_R9]
    mov r10, [r8 + L_R10]
    mov r11, [r8 + L_R11]
    mov r12, [r8 + L_R12]
    mov r13, [r8 + L_R13]
    mov r14, [r8 + L_R14]
    mov r15, [r8 + L_R15]
    mov rax, [r8 + L_SLOT_ENTRY]
    mov r8,  [r8 + L_R8]
    ; Unmap ourselves. The two instructions after this still come from
    ; this page and its stack through translations the TLB already holds;
    ; nothing invalidates them until the guest's next CR3 switch.
    mov qword [rax], 0
    pop rax
    iretq

; ---------------------------------------------------------------------------
; Host exception entry points, one per vector 0-31, 16 bytes apart, so the
; host IDT can point at them (Svm/HostDescriptorTables.cs). Each pushes a
; zero where the CPU pushes no error code, then its vector, and calls the C#
; reporter set by cpu_set_fault_handler(vector, errorCode, rip).
%macro FAULT_STUB 1
    align 16
  %if %1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
    nop
    nop
  %else
    push 0
  %endif
    push %1
    jmp host_fault_common
%endmacro

global cpu_fault_stubs, cpu_set_fault_handler
cpu_fault_stubs:
    lea rax, [host_fault_stub_0]
    ret
cpu_set_fault_handler:
    mov [host_fault_handler], rcx
    ret

    align 16
host_fault_stub_0:
%assign v 0
%rep 32
    FAULT_STUB v
%assign v v + 1
%endrep

host_fault_common:
    mov rcx, [rsp]              ; vector
    mov rdx, [rsp + 8]          ; error code
    mov r8, [rsp + 16]          ; faulting rip
    and rsp, -16
    sub rsp, 32
    call [host_fault_handler]
    jmp cpu_halt_forever

; ---------------------------------------------------------------------------
; What ILC-generated code expects from a Windows C runtime.
; --nativelib emits a __managed__Startup that nothing here calls; its
; reverse-P/Invoke transitions have no runtime to talk to.
global RhpReversePInvoke, RhpReversePInvokeReturn
RhpReversePInvoke:
RhpReversePInvokeReturn:
    ret

; Calls into UEFI are SuppressGCTransition: ILC polls RhpTrapThreads after
; them, which never asks for anything here.
global RhpGcPoll
RhpGcPoll:
    ret

; A smashed stack cookie: stop where a debugger can see it.
global RhpFallbackFailFast
RhpFallbackFailFast:
    jmp cpu_halt_forever

global __chkstk
__chkstk:                       ; no guard pages here: nothing to probe
    ret

section .data
host_fault_handler: dq cpu_halt_forever
global RhpTrapThreads
RhpTrapThreads: dd 0
global __security_cookie
__security_cookie: dq 0x2B992DDFA232
