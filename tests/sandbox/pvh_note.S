/* The PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) that makes the 32-bit test
 * guest (tests/kvm/guests/protected32.S) a kernel tern run --kernel boots:
 * linked with it into build/guests/protected32-pvh.elf. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* name size: "Xen\0" */
	.long 4			/* descriptor size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long _start
