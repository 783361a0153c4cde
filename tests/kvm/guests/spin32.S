/* 32-bit test guest, entered as a PVH kernel (see protected32.S): puts two
 * marker words on a stack at 0x80000 and spins for ever, the shape of a
 * guest that stopped answering. The CLI suite asks tern for its vCPU
 * report (SIGUSR2) and looks for the markers in the stack words. */
	.code32
	.text
	.globl _start
_start:
	mov $0x80000, %esp
	push $0xcafe0002
	push $0xcafe0001
	xor %ecx, %ecx
1:	inc %ecx
	jmp 1b
