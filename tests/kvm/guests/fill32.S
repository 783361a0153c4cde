/* 32-bit test guest, entered as a PVH kernel (see protected32.S): writes a
 * non-zero pattern over guest RAM from 2 MiB to 2 MiB + 480 MiB (the
 * memory a migration must carry; zero pages are skipped), says "filled" on
 * COM1, then spins. For bench/migration-transport: run it with --memory
 * 512M. */
	.code32
	.text
	.globl _start
_start:
	mov $0x200000, %edi
	mov $(480 * 1024 * 1024 / 4), %ecx
	mov $0xa5a5a5a5, %eax
	cld
	rep stosl
	mov $0x3f8, %dx
	mov $'f', %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
1:	jmp 1b
