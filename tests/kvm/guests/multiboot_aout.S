/* Multiboot v1 test guest loaded by the a.out kludge (header flags bit 16):
 * a flat binary (the Makefile's multiboot rule links it at 2 MiB) whose
 * header gives load, load-end, bss-end and entry addresses. After the
 * load-end address the file carries 64 bytes of 0xaa that must not be
 * loaded: the guest checks that the bss there reads as zeros. It prints
 * "aout" with the command line and ends through the debug-exit port with
 * 0x15 (tern exits 43); stray bytes in the bss end it with 0x33 (exit 103),
 * a wrong magic with 0x7e (exit 253). */
#include "multiboot_defs.inc"

	.code32
	.text
	.globl _start
_start:
image_start:
	.align 4
mb_header:
	.long MB_MAGIC, 0x10003, -(MB_MAGIC + 0x10003)
	.long mb_header             /* header_addr */
	.long image_start           /* load_addr */
	.long load_end              /* load_end_addr */
	.long bss_end               /* bss_end_addr */
	.long entry                 /* entry_addr */

entry:
	mov $bss_end, %esp
	cmp $MB_BOOTLOADER_MAGIC, %eax
	jne bad_magic
	mov %ebx, %ebp

	mov $load_end, %esi
	mov $64, %ecx
1:	lodsb
	test %al, %al
	jnz stray_bss
	loop 1b

	mov $s_aout, %esi
	call puts
	mov 16(%ebp), %esi
	call puts
	call newline
	mov $0x15, %eax
	call exit_with

stray_bss:
	mov $0x33, %eax
	call exit_with
bad_magic:
	mov $0x7e, %eax
	call exit_with

#include "multiboot_common.inc"

s_aout:	.asciz "aout cmdline "
	.align 4
load_end:
	/* In the file, beyond load_end_addr: never loaded. */
	.fill 64, 1, 0xaa
	.set bss_end, load_end + 0x2000
