/* Real-mode test guest: halts with interrupts off and nothing to wake it.
 * The VMM must still be able to stop it. */
	.code16
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $'h', %al
	out %al, %dx
	cli
1:	hlt
	jmp 1b
