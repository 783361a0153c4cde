/* Real-mode test guest for --on-reboot restart, loaded again and entered at
 * 0000:1000 after every reset. It counts its boots in CMOS byte 0x40
 * (battery-backed on a PC: it survives a reset), prints the count, checks
 * that RAM came back empty (it marks 0x8000 on every boot; "!" if the mark
 * is still there), and reboots through a different path each time: boot 1
 * the i8042 reset line, 2 port 0xcf9, 3 the ACPI reset register, 4 a jump
 * to the reset vector; boot 5 powers off (ACPI S5). Output: "12345". */
	.code16
	.text
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov $0x3f8, %dx
	cmpb $0, 0x8000
	je 1f
	mov $'!', %al
	out %al, %dx
1:	movb $0xaa, 0x8000

	/* CR4.OSXSAVE, as every Linux sets it: KVM mirrors it into the vCPU's
	 * CPUID, which a reset must not try to set back (KVM refuses a changed
	 * CPUID once the vCPU ran). */
	mov %cr4, %eax
	or $0x40000, %eax
	mov %eax, %cr4

	mov $0x40, %al          /* CMOS index 0x40: the boot count */
	out %al, $0x70
	in $0x71, %al
	inc %al
	mov %al, %bl
	mov $0x40, %al
	out %al, $0x70
	mov %bl, %al
	out %al, $0x71

	mov %bl, %al
	add $'0', %al
	out %al, %dx

	cmp $1, %bl
	je by_keyboard_controller
	cmp $2, %bl
	je by_reset_control
	cmp $3, %bl
	je by_acpi
	cmp $4, %bl
	je by_reset_vector
	mov $0x600, %dx         /* ACPI sleep control: SLP_EN | SLP_TYP 5 */
	mov $0x34, %al
	out %al, %dx
	jmp halt

by_keyboard_controller:
	mov $0xfe, %al
	out %al, $0x64
	jmp halt
by_reset_control:
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
	jmp halt
by_acpi:
	mov $0x602, %dx
	mov $0x01, %al
	out %al, %dx
	jmp halt
by_reset_vector:
	ljmp $0xf000, $0xfff0
halt:
	hlt
	jmp halt
