/* 32-bit test guest, entered as a PVH kernel (see protected32.S): prints
 * "echo32 ready" on COM1, then echoes every byte it receives there (a CR
 * as CR LF), interrupt-driven: the UART's receive interrupt through the
 * IOAPIC (pin 4, as Linux routes COM1) to one handler, the vCPU halted in
 * between at no CPU cost. The ternd suite's console tests type into it
 * through `ternctl console` and read the echo, without booting Linux. */
	.code32
	.text
	.globl _start
#define COM1 0x3f8
#define IOAPIC_BASE 0xfec00000
#define LAPIC_BASE 0xfee00000
#define COM1_GSI 4
#define REDIR_LOW (0x10 + 2 * COM1_GSI)
#define VECTOR 0x30
#define IDT 0x80000 /* 256 gates, in RAM below 640 KiB */
#define STACK 0x90000
_start:
	cli
	movl $STACK, %esp
	/* Both 8259s masked: only the IOAPIC delivers. */
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	/* Every gate to the one handler: a 32-bit interrupt gate with the
	 * code segment PVH entered with. */
	movw %cs, %dx
	movl $handler, %eax
	movl $IDT, %edi
	movl $256, %ecx
1:	movw %ax, (%edi)
	movw %dx, 2(%edi)
	movw $0x8e00, 4(%edi)
	movl %eax, %ebx
	shrl $16, %ebx
	movw %bx, 6(%edi)
	addl $8, %edi
	loop 1b
	lidt idt_descriptor
	/* Local APIC on (spurious vector 0xff), LINT0 masked, TPR 0. */
	movl $0x1ff, LAPIC_BASE + 0xf0
	movl $0x10000, LAPIC_BASE + 0x350
	movl $0, LAPIC_BASE + 0x80
	/* IOAPIC pin 4 to VECTOR on APIC 0: fixed, edge, active high. */
	movl $IOAPIC_BASE, %ebx
	movl $(REDIR_LOW + 1), (%ebx)
	movl $0, 0x10(%ebx)
	movl $REDIR_LOW, (%ebx)
	movl $VECTOR, 0x10(%ebx)
	/* UART: 8N1, receive interrupt on, DTR RTS OUT2 (OUT2 gates the
	 * interrupt line on a PC). */
	movw $(COM1 + 3), %dx
	movb $0x03, %al
	outb %al, %dx
	movw $(COM1 + 1), %dx
	movb $0x01, %al
	outb %al, %dx
	movw $(COM1 + 4), %dx
	movb $0x0b, %al
	outb %al, %dx
	movl $banner, %esi
2:	lodsb
	testb %al, %al
	jz 3f
	movw $COM1, %dx
	outb %al, %dx
	jmp 2b
3:	sti
4:	hlt
	jmp 4b

handler:
	pusha
5:	movw $(COM1 + 5), %dx
	inb %dx, %al
	testb $0x01, %al
	jz 6f
	movw $COM1, %dx
	inb %dx, %al
	outb %al, %dx
	cmpb $'\r', %al
	jne 5b
	movb $'\n', %al
	outb %al, %dx
	jmp 5b
6:	movl $0, LAPIC_BASE + 0xb0 /* EOI */
	popa
	iret

	.balign 8
idt_descriptor:
	.word 256 * 8 - 1
	.long IDT
banner:
	.asciz "echo32 ready\r\n"
