/* Real-mode test guest, loaded and entered at 0000:1000: resets through the
 * reset control register at port 0xcf9 the way Linux's reboot=pci does:
 * 0x02 (system reset type, no reset yet), which must not reset, then "a"
 * on the UART, then 0x06 (reset CPU), which must. */
	.code16
	.text
	.globl _start
_start:
	cli
	mov $0xcf9, %dx
	mov $0x02, %al
	out %al, %dx
	mov $0x3f8, %dx
	mov $'a', %al
	out %al, %dx
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
1:	hlt
	jmp 1b
