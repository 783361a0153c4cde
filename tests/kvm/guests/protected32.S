/* 32-bit test guest, entered the way tern enters a PVH kernel: protected
 * mode, paging off, flat segments, %ebx = start_info. Prints "32", the low
 * digit of %ebx >> 12 and resets. Position-independent. */
	.code32
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $'3', %al
	out %al, %dx
	mov $'2', %al
	out %al, %dx
	mov %ebx, %eax
	shr $12, %eax      /* 0x6000 >> 12 = 6 */
	add $'0', %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
	mov $0xfe, %al
	out %al, $0x64
1:	hlt
	jmp 1b
