/* 32-bit test guest, entered as a PVH kernel (see protected32.S): counts
 * for ever in a word of RAM at 0x70000 ("TICK" beside it at 0x70004) and,
 * every 2^20 counts, prints the count's upper bits as 8 hex digits and a
 * newline on COM1. A guest restored from a snapshot goes on printing from
 * where its memory was (the API's Uffd test: tests/api/test_uffd.py). */
	.code32
	.text
	.globl _start
_start:
	cli
	movl $0x70000, %edi
	movl $0, (%edi)
	movl $0x4b434954, 4(%edi)
	movw $0x3f8, %dx
1:	incl (%edi)
	testl $0xfffff, (%edi)
	jnz 1b
	movl (%edi), %ebx
	shrl $20, %ebx
	movl $8, %ecx
2:	roll $4, %ebx
	movb %bl, %al
	andb $0xf, %al
	addb $'0', %al
	cmpb $'9', %al
	jbe 3f
	addb $7, %al
3:	outb %al, %dx
	loop 2b
	movb $'\n', %al
	outb %al, %dx
	jmp 1b
