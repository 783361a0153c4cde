/* 32-bit test guest, entered as a PVH kernel (see protected32.S): counts
 * for ever in a word of RAM at 0x70000 (a marker, "CNT!", beside it at
 * 0x70004), so a snapshot's memory file (guest physical address = file
 * offset below 3 GiB) shows how far the guest had run. The ternd suite
 * reverts snapshots of it and checks that the count comes back and goes
 * on. */
	.code32
	.text
	.globl _start
_start:
	cli
	movl $0x70000, %edi
	movl $0, (%edi)
	movl $0x21544e43, 4(%edi)
1:	incl (%edi)
	jmp 1b
