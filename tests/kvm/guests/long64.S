/* 64-bit test guest, entered the way tern enters a bzImage's 64-bit entry
 * point: long mode, identity-mapped page tables, flat segments. Prints "64",
 * reads its code segment's L bit via the stack (push/pop works only with a
 * valid SS) and resets. Position-independent: loaded anywhere. */
	.code64
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $'6', %al
	out %al, %dx
	mov $'4', %al
	out %al, %dx
	push %rsi          /* zero page pointer, as the boot protocol passes it */
	pop %rax
	shr $12, %rax      /* 0x7000 >> 12 = 7 */
	add $'0', %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
	mov $0xfe, %al
	out %al, $0x64
1:	hlt
	jmp 1b
