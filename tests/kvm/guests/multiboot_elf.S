/* Multiboot v1 test guest, linked as a 32-bit ELF at 1 MiB (the Makefile's
 * multiboot rule). It checks the magic in %eax, then reports on COM1 what the
 * Multiboot information at %ebx holds: the command line, each module's string
 * and first bytes, the memory map, mem_lower/mem_upper; then what fw_cfg
 * says; and ends through the debug-exit port with 0x2a (tern exits 85). A
 * wrong magic ends it with 0x7e (exit 253). */
#include "multiboot_defs.inc"

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
	mov %ebx, %ebp

	mov $s_flags, %esi
	call puts
	mov (%ebp), %eax
	call puthex
	call newline

	mov $s_cmdline, %esi
	call puts
	mov 16(%ebp), %esi
	call puts
	call newline

	mov 20(%ebp), %edi          /* mods_count */
	mov 24(%ebp), %ebx          /* mods_addr */
mod_loop:
	test %edi, %edi
	jz mods_done
	mov $s_mod, %esi
	call puts
	mov 8(%ebx), %esi           /* string */
	call puts
	mov $'=', %al
	call putc
	mov (%ebx), %esi            /* mod_start */
	mov 4(%ebx), %ecx           /* mod_end */
	sub %esi, %ecx
	cmp $32, %ecx
	jbe 1f
	mov $32, %ecx
1:	call putn
	call newline
	add $16, %ebx
	dec %edi
	jmp mod_loop
mods_done:

	mov 48(%ebp), %ebx          /* mmap_addr */
	mov 44(%ebp), %edi          /* mmap_length */
	add %ebx, %edi
mmap_loop:
	cmp %edi, %ebx
	jae mmap_done
	mov $s_mmap, %esi
	call puts
	mov 8(%ebx), %eax           /* base, high half */
	call puthex
	mov 4(%ebx), %eax
	call puthex
	call space
	mov 16(%ebx), %eax          /* length */
	call puthex
	mov 12(%ebx), %eax
	call puthex
	call space
	mov 20(%ebx), %eax          /* type */
	call puthex
	call newline
	mov (%ebx), %eax            /* size, not counting itself */
	lea 4(%ebx, %eax), %ebx
	jmp mmap_loop
mmap_done:

	mov $s_mem, %esi
	call puts
	mov 4(%ebp), %eax
	call puthex
	call space
	mov 8(%ebp), %eax
	call puthex
	call newline

	mov $s_fwcfg, %esi
	call puts
	xor %eax, %eax              /* FW_CFG_SIGNATURE */
	call fw_cfg_select
	call fw_cfg_read32
	mov $4, %ecx
1:	call putc
	shr $8, %eax
	loop 1b
	call space
	mov $0x05, %eax             /* FW_CFG_NB_CPUS */
	call fw_cfg_select
	call fw_cfg_read32          /* 2 bytes of item, then zeros */
	call puthex
	call space
	mov $0x03, %eax             /* FW_CFG_RAM_SIZE */
	call fw_cfg_select
	call fw_cfg_read32
	mov %eax, %ebx
	call fw_cfg_read32
	call puthex
	mov %ebx, %eax
	call puthex
	call space
	mov $0x19, %eax             /* FW_CFG_FILE_DIR: big-endian count */
	call fw_cfg_select
	call fw_cfg_read32
	call puthex
	call newline

	mov $0x2a, %eax
	call exit_with

bad_magic:
	mov $0x7e, %eax
	call exit_with

#include "multiboot_common.inc"

	.data
s_flags:	.asciz "flags "
s_cmdline:	.asciz "cmdline "
s_mod:		.asciz "module "
s_mmap:		.asciz "mmap "
s_mem:		.asciz "mem "
s_fwcfg:	.asciz "fwcfg "

	.bss
	.align 16
	.space 4096
stack_top:
