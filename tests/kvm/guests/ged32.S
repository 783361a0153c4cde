/* 32-bit test guest, entered as a PVH kernel (see protected32.S): does what
 * Linux's ACPI GED driver does to the IOAPIC when it binds (unmasks the
 * GED's pin, ACPI_GED_GSI, edge-triggered, active high) and then halts with
 * interrupts off, as idle32 does. tern then takes the guest to be listening
 * for the power button: the API and ternd tests press it and count the
 * presses, without booting Linux. */
	.code32
	.text
	.globl _start
#define IOAPIC_BASE 0xfec00000
#define GED_GSI 5
#define REDIR_LOW (0x10 + 2 * GED_GSI)
_start:
	cli
	movl $IOAPIC_BASE, %ebx
	/* High half: destination APIC ID 0. */
	movl $(REDIR_LOW + 1), (%ebx)
	movl $0, 0x10(%ebx)
	/* Low half: vector 0x30, fixed, physical, edge, active high, unmasked. */
	movl $REDIR_LOW, (%ebx)
	movl $0x30, 0x10(%ebx)
1:	hlt
	jmp 1b
