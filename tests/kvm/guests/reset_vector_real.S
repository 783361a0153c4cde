/* Real-mode test guest, loaded and entered at 0000:1000: prints "r" and
 * reboots the way Linux's reboot=b does, by a far jump to the BIOS reset
 * vector 0xf000:0xfff0 (physical 0xffff0), where tern's reset-vector ROM
 * must turn it into a reset. */
	.code16
	.text
	.globl _start
_start:
	cli
	mov $0x3f8, %dx
	mov $'r', %al
	out %al, %dx
	ljmp $0xf000, $0xfff0
