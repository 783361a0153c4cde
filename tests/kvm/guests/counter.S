/* Real-mode test guest for snapshots: counts forever in %ecx, stores the
 * count at 0x8000, writes it across page 0x9000-0x9fff (memory a Diff
 * snapshot must carry), and every 65536 counts sends '.' to the UART. */
	.code16
	.text
	.globl _start
_start:
	xor %ax, %ax
	mov %ax, %ds
	xor %ecx, %ecx
1:	inc %ecx
	mov %ecx, 0x8000
	mov %cx, %bx
	and $0xffc, %bx
	mov %ecx, 0x9000(%bx)
	test $0xffff, %ecx
	jnz 1b
	mov $0x3f8, %dx
	mov $'.', %al
	out %al, %dx
	jmp 1b
