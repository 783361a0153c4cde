/* Test guest: enters 32-bit protected mode with an empty IDT, so the first
 * exception cannot be delivered: #UD -> #DF -> triple fault (shutdown), which
 * tern must report with its own exit status and a register dump. Protected
 * mode, because this build machine's software hypervisor ignores the IDT
 * limit in real mode. */
	.code16
	.text
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdt gdt_pointer
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmp $0x08, $protected

	.code32
protected:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %ss
	lidt empty_idt
	ud2

	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff /* flat 32-bit code */
	.quad 0x00cf93000000ffff /* flat data */
gdt_pointer:
	.word gdt_pointer - gdt - 1
	.long gdt
empty_idt:
	.word 0
	.long 0
