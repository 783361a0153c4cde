/* Real-mode test guest, loaded and entered at 0000:1000. Exercises byte and
 * string port output (the UART), port input from an unmapped port and from
 * the CMOS RTC, the boot marker, and the i8042 reset line. */
	.code16
	.text
	.globl _start
_start:
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es

	/* byte-at-a-time output */
	mov $greeting, %si
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b

	/* string output: one exit with count > 1 */
2:	mov $string_io, %si
	mov $string_io_end - string_io, %cx
	cld
	rep outsb

	/* boot marker */
	mov $0x3f0, %dx
	mov $123, %al
	out %al, %dx

	/* an unmapped port reads as 0xff: echo it */
	mov $0x2e8, %dx
	in %dx, %al
	mov $0x3f8, %dx
	out %al, %dx

	/* CMOS status register D: valid-RAM bit set, reads 0x80 */
	mov $0x0d, %al
	out %al, $0x70
	in $0x71, %al
	out %al, %dx

	/* reset through the keyboard controller, as Linux's reboot=k does */
	mov $0xfe, %al
	out %al, $0x64
3:	hlt
	jmp 3b

greeting:
	.asciz "hello from a tiny guest\n"
string_io:
	.ascii "rep outsb works\n"
string_io_end:
