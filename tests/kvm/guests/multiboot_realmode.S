/* Multiboot v1 test guest for the state a PC BIOS hands over (tern's
 * arch/x86/bios_handover.c), linked as a 32-bit ELF at 1 MiB. It prints the
 * 8259s' interrupt masks on COM1, then drops to real mode, as
 * kvm-unit-tests' realmode test does, and waits twice with STI; HLT: only
 * the BIOS tick (PIT, IRQ 0 at vector 0x08 through the IVT's handler) ends
 * the waits, and the second comes only if the handler acknowledged the
 * first. It then ends through the debug-exit port with 0x2b (tern exits
 * 87). A LAPIC timer armed for about 4 s guards the waits: if it fires
 * first the guest ends with 0x7d (exit 251) instead of hanging; a wrong
 * Multiboot magic ends it with 0x7e (exit 253). */
#include "multiboot_defs.inc"

#define RM_BASE 0x3000 /* free low RAM the real-mode part is copied to */
#define RM(label) ((label) - rm_start + RM_BASE)
#define RM_STACK 0x2ff0
#define LAPIC 0xfee00000
#define LAPIC_SVR (LAPIC + 0xf0)
#define LAPIC_LVT_TIMER (LAPIC + 0x320)
#define LAPIC_TIMER_INITIAL (LAPIC + 0x380)
#define LAPIC_TIMER_DIVIDE (LAPIC + 0x3e0)
#define GUARD_VECTOR 0x40
#define CODE16 0x08
#define DATA16 0x10

	.code32
	.text
	.globl _start
	.align 4
mb_header:
	.long MB_MAGIC, 0x3, -(MB_MAGIC + 0x3)

_start:
	mov $stack_top, %esp
	cmp $MB_BOOTLOADER_MAGIC, %eax
	jne bad_magic

	mov $s_imr, %esi
	call puts
	xor %eax, %eax
	in $0x21, %al
	call puthex
	call space
	in $0xa1, %al
	call puthex
	call newline

	mov $rm_start, %esi
	mov $RM_BASE, %edi
	mov $(rm_end - rm_start), %ecx
	rep movsb
	movl $RM(rm_guard), GUARD_VECTOR * 4  /* segment 0 */

	movl $0x1ff, LAPIC_SVR              /* enabled, spurious vector 0xff */
	movl $0xb, LAPIC_TIMER_DIVIDE       /* divide by 1 */
	movl $GUARD_VECTOR, LAPIC_LVT_TIMER /* one-shot */
	movl $0xffffffff, LAPIC_TIMER_INITIAL

	lgdt gdt_descriptor
	ljmp $CODE16, $RM(rm_start)

bad_magic:
	mov $0x7e, %eax
	call exit_with

/* Copied to RM_BASE and run there: 16-bit protected mode, then real mode
 * with segments 0 and the IVT at 0, as the BIOS left it. */
	.code16
rm_start:
	mov $DATA16, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr0, %eax
	and $0xfffffffe, %eax
	mov %eax, %cr0
	ljmp $0, $RM(rm_real)
rm_real:
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $RM_STACK, %sp
	lidt RM(rm_ivt)
	sti
	hlt
	hlt
	cli
	mov $0x2b, %eax
	jmp rm_exit
rm_guard:
	mov $0x7d, %eax
rm_exit:
	mov $DEBUG_EXIT_PORT, %dx
	out %eax, %dx
1:	hlt
	jmp 1b
rm_ivt:
	.word 0x3ff
	.long 0
rm_end:
	.code32

#include "multiboot_common.inc"

	.data
	.align 8
gdt:
	.quad 0
	.word 0xffff, 0x0000
	.byte 0x00, 0x9a, 0x00, 0x00 /* CODE16: base 0, 64 KiB, 16-bit */
	.word 0xffff, 0x0000
	.byte 0x00, 0x92, 0x00, 0x00 /* DATA16 */
gdt_end:
gdt_descriptor:
	.word gdt_end - gdt - 1
	.long gdt
s_imr:	.asciz "imr "

	.bss
	.align 16
	.space 4096
stack_top:
