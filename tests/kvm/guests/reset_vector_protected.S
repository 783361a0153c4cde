/* 32-bit test guest, entered as a PVH kernel (protected mode, paging off,
 * flat segments): prints "p" and jumps to the reset vector at 0xfffffff0,
 * the top of the 4 GiB space, where tern's reset-vector ROM must turn the
 * jump into a reset. */
	.code32
	.text
	.globl _start
_start:
	cli
	mov $0x3f8, %dx
	mov $'p', %al
	out %al, %dx
	mov $0xfffffff0, %eax
	jmp *%eax
