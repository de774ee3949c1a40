; SHA-256 block compression with the SHA extensions (SHA256RNDS2,
; SHA256MSG1, SHA256MSG2; CPUID.(EAX=7,ECX=0):EBX bit 29) and SSSE3/SSE4.1:
;   void sha256_ni_blocks(uint32_t state[8], const uint8_t *data, uint64_t blocks)
; state holds a..h as in FIPS 180-4; data is blocks * 64 bytes, any alignment.
; Assembled twice: -f win64 for the hypervisor (Microsoft x64 convention:
; rcx, rdx, r8; xmm6-xmm15 callee-saved) and -f elf64 for the test suite's
; check against the BCL on the host (System V: rdi, rsi, rdx).
; SHA256RNDS2 keeps the working variables as two registers, ABEF and CDGH,
; and does two rounds with the two message-plus-constant words in xmm0's
; low half; four rounds (one 16-byte group of the schedule) per ROUNDS4.
bits 64
default rel

%ifidn __OUTPUT_FORMAT__, win64
  %define STATE rcx
  %define DATA rdx
  %define BLOCKS r8
%else
  %define STATE rdi
  %define DATA rsi
  %define BLOCKS rdx
%endif

%define ABEF xmm1
%define CDGH xmm2
%define MASK xmm7
%define SAVE_ABEF xmm8
%define SAVE_CDGH xmm9

%ifidn __OUTPUT_FORMAT__, win64
section .rdata rdata align=16
%else
section .rodata progbits alloc noexec nowrite align=16
%endif
byte_swap: db 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12
k256:
    dd 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
    dd 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
    dd 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
    dd 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
    dd 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
    dd 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
    dd 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
    dd 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2

section .text

; ROUNDS4 W, i: rounds 4i..4i+3 with message words W (4 dwords).
%macro ROUNDS4 2
    movdqa xmm0, %1
    paddd xmm0, [k256 + 16 * (%2)]
    sha256rnds2 CDGH, ABEF
    pshufd xmm0, xmm0, 0x0E
    sha256rnds2 ABEF, CDGH
%endmacro

; SCHEDULE Wa, Wb, Wc, Wd: Wa (words t-16..t-13) becomes words t..t+3, from
; Wb (t-12..t-9), Wc (t-8..t-5), Wd (t-4..t-1).
%macro SCHEDULE 4
    sha256msg1 %1, %2
    movdqa xmm0, %4
    palignr xmm0, %3, 4
    paddd %1, xmm0
    sha256msg2 %1, %4
%endmacro

global sha256_ni_blocks
sha256_ni_blocks:
    test BLOCKS, BLOCKS
    jz .done
    sub rsp, 72
    movdqu [rsp], xmm6
    movdqu [rsp + 16], xmm7
    movdqu [rsp + 32], xmm8
    movdqu [rsp + 48], xmm9

    ; a..d, e..h (dword 0 = a) -> ABEF (dword 3 = a) and CDGH.
    movdqu xmm0, [STATE]            ; d c b a (high to low)
    movdqu CDGH, [STATE + 16]       ; h g f e
    pshufd xmm0, xmm0, 0xB1         ; c d a b
    pshufd CDGH, CDGH, 0x1B         ; e f g h
    movdqa ABEF, xmm0
    palignr ABEF, CDGH, 8           ; a b e f
    pblendw CDGH, xmm0, 0xF0        ; c d g h
    movdqa MASK, [byte_swap]

.block:
    movdqa SAVE_ABEF, ABEF
    movdqa SAVE_CDGH, CDGH
    movdqu xmm3, [DATA]
    pshufb xmm3, MASK
    movdqu xmm4, [DATA + 16]
    pshufb xmm4, MASK
    movdqu xmm5, [DATA + 32]
    pshufb xmm5, MASK
    movdqu xmm6, [DATA + 48]
    pshufb xmm6, MASK
    ROUNDS4 xmm3, 0
    ROUNDS4 xmm4, 1
    ROUNDS4 xmm5, 2
    ROUNDS4 xmm6, 3
%assign i 4
%rep 3
    SCHEDULE xmm3, xmm4, xmm5, xmm6
    ROUNDS4 xmm3, i
    SCHEDULE xmm4, xmm5, xmm6, xmm3
    ROUNDS4 xmm4, i + 1
    SCHEDULE xmm5, xmm6, xmm3, xmm4
    ROUNDS4 xmm5, i + 2
    SCHEDULE xmm6, xmm3, xmm4, xmm5
    ROUNDS4 xmm6, i + 3
%assign i i + 4
%endrep
    paddd ABEF, SAVE_ABEF
    paddd CDGH, SAVE_CDGH
    add DATA, 64
    dec BLOCKS
    jnz .block

    ; Back to a..d, e..h.
    pshufd ABEF, ABEF, 0x1B         ; f e b a
    pshufd CDGH, CDGH, 0xB1         ; d c h g
    movdqa xmm0, ABEF
    pblendw xmm0, CDGH, 0xF0        ; d c b a
    palignr CDGH, ABEF, 8           ; h g f e
    movdqu [STATE], xmm0
    movdqu [STATE + 16], CDGH

    movdqu xmm6, [rsp]
    movdqu xmm7, [rsp + 16]
    movdqu xmm8, [rsp + 32]
    movdqu xmm9, [rsp + 48]
    add rsp, 72
.done:
    ret
