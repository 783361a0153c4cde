/* 64-bit test guest, entered as a bzImage's 64-bit entry (long mode, the
 * first 4 GiB identity-mapped): prints "l" and jumps to the reset vector
 * at 0xfffffff0, where tern's reset-vector ROM must turn the jump into a
 * reset. */
	.code64
	.text
	.globl _start
_start:
	cli
	mov $0x3f8, %dx
	mov $'l', %al
	out %al, %dx
	mov $0xfffffff0, %eax /* zero-extends into %rax */
	jmp *%rax
