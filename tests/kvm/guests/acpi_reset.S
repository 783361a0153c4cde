/* Real-mode test guest, loaded and entered at 0000:1000: writes the FADT's
 * RESET_VALUE (1) to its RESET_REG (I/O port 0x602), as Linux's reboot=a
 * does, after writing another value that must not reset; prints "a"
 * between the two. */
	.code16
	.text
	.globl _start
_start:
	cli
	mov $0x602, %dx
	mov $0x02, %al
	out %al, %dx
	mov $0x3f8, %dx
	mov $'a', %al
	out %al, %dx
	mov $0x602, %dx
	mov $0x01, %al
	out %al, %dx
1:	hlt
	jmp 1b
