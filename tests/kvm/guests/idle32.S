/* 32-bit test guest, entered as a PVH kernel (see protected32.S): halts
 * with interrupts off for ever, the cheapest guest there is (the vCPU
 * sleeps in KVM's in-kernel HLT, using no CPU). The ternd suite runs its
 * VMs on it, several at once, without loading the machine. */
	.code32
	.text
	.globl _start
_start:
	cli
1:	hlt
	jmp 1b
