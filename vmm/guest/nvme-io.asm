; nvme-io: one raw NVMe command through Linux's passthrough ioctls
; (NVME_IOCTL_IO_CMD, NVME_IOCTL_ADMIN_CMD), as a buggy or hostile guest
; could send it: Linux's
; block layer would never address blocks past the size Identify gave it, the
; ioctl does whatever it is told. The stand-in guest's read-disk mode uses it
; to aim commands at the hypervisor's hidden tail (busybox has no way to).
;   nvme-io DEVICE OPCODE SLBA BLOCKS      (decimal numbers)
;   OPCODE 1 write (BLOCKS x 512 bytes of 0x5A), 2 read, 8 write zeroes,
;          9 dataset management: deallocate the one range SLBA, BLOCKS;
;          128 and up: that admin command for namespace 1, no data, CDW10 0
;          (128 = Format NVM; SLBA and BLOCKS are then ignored)
; Prints "status=0xNNNN", the NVMe status Linux returns (0x0000 = success,
; 0x4080 = LBA Out of Range with Do Not Retry), or "errno=N" if the ioctl
; itself failed. Exits 0 either way; 2 on bad usage.
; Built by make-disk.sh: nasm -f elf64, ld.lld -static (no libc).

bits 64
default rel

%define SYS_write 1
%define SYS_open 2
%define SYS_ioctl 16
%define SYS_exit 60
%define O_RDWR 2
%define NVME_IOCTL_IO_CMD 0xC0484E43   ; _IOWR('N', 0x43, struct nvme_passthru_cmd)
%define NVME_IOCTL_ADMIN_CMD 0xC0484E41   ; _IOWR('N', 0x41, struct nvme_admin_cmd), the same layout
%define MAX_BLOCKS 128                 ; the 64 KiB buffer

; struct nvme_passthru_cmd (linux/nvme_ioctl.h), 72 bytes
%define CMD_OPCODE 0
%define CMD_NSID 4
%define CMD_ADDR 24
%define CMD_DATA_LEN 36
%define CMD_CDW10 40
%define CMD_CDW11 44
%define CMD_CDW12 48
%define CMD_SIZE 72

section .bss
alignb 4096
buffer: resb MAX_BLOCKS * 512
command: resb CMD_SIZE
text: resb 32

section .text
global _start
_start:
    cmp qword [rsp], 5              ; argc: program, device, opcode, slba, blocks
    jne usage
    mov rsi, [rsp + 24]
    call parse
    mov r13, rax                    ; opcode
    mov rsi, [rsp + 32]
    call parse
    mov r14, rax                    ; starting LBA
    mov rsi, [rsp + 40]
    call parse
    mov r15, rax                    ; blocks
    test r15, r15
    jz usage
    cmp r15, MAX_BLOCKS
    ja usage

    mov eax, SYS_open
    mov rdi, [rsp + 16]
    mov esi, O_RDWR
    xor edx, edx
    syscall
    test rax, rax
    js failed
    mov r12, rax                    ; fd

    lea rbx, [command]
    mov [rbx + CMD_OPCODE], r13b
    mov dword [rbx + CMD_NSID], 1
    mov esi, NVME_IOCTL_ADMIN_CMD
    cmp r13, 128
    jae submit                      ; admin: nothing more to fill in
    mov esi, NVME_IOCTL_IO_CMD
    lea rax, [buffer]
    mov [rbx + CMD_ADDR], rax
    cmp r13, 9
    je deallocate
    mov [rbx + CMD_CDW10], r14d     ; SLBA, low and high halves
    mov rax, r14
    shr rax, 32
    mov [rbx + CMD_CDW11], eax
    lea eax, [r15 - 1]              ; blocks, 0's based
    mov [rbx + CMD_CDW12], eax
    cmp r13, 8
    je submit                       ; write zeroes: no data
    mov rax, r15
    shl rax, 9
    mov [rbx + CMD_DATA_LEN], eax
    lea rdi, [buffer]
    mov rcx, rax
    mov al, 0x5A
    rep stosb
    jmp submit

deallocate:                         ; one range: attributes 0, length, SLBA
    mov dword [rbx + CMD_DATA_LEN], 16
    mov dword [rbx + CMD_CDW10], 0  ; number of ranges, 0's based
    mov dword [rbx + CMD_CDW11], 4  ; attribute: deallocate
    lea rdi, [buffer]
    mov dword [rdi], 0
    mov [rdi + 4], r15d
    mov [rdi + 8], r14

submit:                             ; esi: the ioctl
    mov eax, SYS_ioctl
    mov rdi, r12
    mov rdx, rbx
    syscall
    test rax, rax
    js failed

    ; "status=0x" and four hex digits
    lea rdi, [text]
    mov rcx, 'status=0'
    mov [rdi], rcx
    mov byte [rdi + 8], 'x'
    lea rsi, [rdi + 9]
    lea r8, [hex]
    mov ecx, 4
.digit:                             ; the status's 16 bits, high nibble first
    mov edx, eax
    shr edx, 12
    and edx, 0xF
    movzx edx, byte [r8 + rdx]
    mov [rsi], dl
    inc rsi
    shl eax, 4
    dec ecx
    jnz .digit
    mov byte [rdi + 13], 10
    mov edx, 14
    jmp print

failed:                             ; "errno=N"
    neg rax
    lea rdi, [text]
    mov rcx, 'errno=00'
    mov [rdi], rcx
    xor edx, edx
    mov ecx, 10
    div ecx                         ; errno < 100 on Linux
    add al, '0'
    add dl, '0'
    mov [rdi + 6], al
    mov [rdi + 7], dl
    mov byte [rdi + 8], 10
    mov edx, 9

print:                              ; rdx bytes of text to stdout, exit 0
    mov eax, SYS_write
    mov rsi, rdi
    mov edi, 1
    syscall
    xor edi, edi
    jmp exit

usage:
    mov edi, 2
exit:
    mov eax, SYS_exit
    syscall

; rsi: a decimal string -> rax (stops at the first non-digit)
parse:
    xor eax, eax
.next:
    movzx ecx, byte [rsi]
    sub ecx, '0'
    cmp ecx, 9
    ja .done
    imul rax, rax, 10
    add rax, rcx
    inc rsi
    jmp .next
.done:
    ret

section .rodata
hex: db '0123456789abcdef'
