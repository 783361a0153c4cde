/* Multiboot v1 test guest for ACPI S3 (tern's vm/vm_sleep.c), linked as a
 * 32-bit ELF at 1 MiB. Like an OS, it finds the FADT and the FACS through
 * the RSDP, writes a real-mode waking vector (RM_BASE) to the FACS, leaves
 * a sentinel in RAM, arms the RTC alarm for every second (AIE) and sleeps:
 * with full ACPI (PM1a_CNT_BLK in the FADT) it sets RTC_EN and writes
 * SLP_TYP 1 | SLP_EN to PM1a_CNT; with hardware-reduced ACPI it writes
 * them to the sleep control register. The RTC alarm must wake it at the
 * vector, in real mode with CS = RM_BASE >> 4, the sentinel intact, and
 * WAK_STS set (with RTC_STS in PM1); it then prints "resumed" and ends
 * through the debug-exit port with 0x2c (tern exits 89). Failures end it
 * with: 0x7e wrong Multiboot magic, 0x7b no FADT, 0x7a no FACS, 0x7c the
 * sleep write returned, 0x79 wrong CS, 0x78 RAM lost, 0x77 status bits
 * missing. */
#include "multiboot_defs.inc"

#define RM_BASE 0x3000 /* the waking vector: the resume code is copied here */
#define RM_STACK 0x2ff0
#define RM(label) ((label) - rm_start + RM_BASE)
/* What the 32-bit part leaves for the resume code, in low RAM. */
#define SAVED_PM1_EVT 0x2000 /* PM1a_EVT_BLK, 0 with hardware-reduced */
#define SAVED_SLEEP_STS 0x2002 /* the sleep status register's port */
#define SENTINEL 0x2008
#define SENTINEL_VALUE 0x53335333
#define FACP 0x50434146
#define RSD_ 0x20445352
#define PTR_ 0x20525450
#define PM1_RTC 0x0400
#define PM1_WAK 0x8000
#define SLEEP_WAK 0x80
#define SLP_TYP_S3 1
/* The PM1 status bit of the wake event: the RTC's, or with NO_ALARM
 * (multiboot_s3button.S) the power button's. */
#ifdef NO_ALARM
#define WOKEN_BY 0x0100
#else
#define WOKEN_BY PM1_RTC
#endif

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

	call find_fadt
	mov 36(%ebx), %edi /* FIRMWARE_CTRL */
	test %edi, %edi
	jz no_facs
	cmpl $0x53434146, (%edi) /* "FACS" */
	jne no_facs
	movl $RM_BASE, 12(%edi) /* Firmware_Waking_Vector */

	mov $rm_start, %esi
	mov $RM_BASE, %edi
	mov $(rm_end - rm_start), %ecx
	rep movsb
	movl $SENTINEL_VALUE, SENTINEL
	mov 56(%ebx), %eax /* PM1a_EVT_BLK */
	mov %ax, SAVED_PM1_EVT
	mov 260(%ebx), %eax /* SLEEP_STATUS_REG's address */
	mov %ax, SAVED_SLEEP_STS

#ifndef NO_ALARM
	/* The RTC alarm at every second: the three "don't care" values. */
	mov $0x01, %al
	mov $0xc0, %ah
	call rtc_write
	mov $0x03, %al
	call rtc_write
	mov $0x05, %al
	call rtc_write
	mov $0x0c, %al
	out %al, $0x70
	in $0x71, %al /* clear C's flags */
	mov $0x0b, %al
	out %al, $0x70
	in $0x71, %al
	or $0x20, %al /* AIE */
	mov %al, %ah
	mov $0x0b, %al
	call rtc_write
#endif

	mov $s_sleeping, %esi
	call puts
	movzwl SAVED_PM1_EVT, %edx
	test %edx, %edx
	jz sleep_reduced
#ifndef NO_ALARM
	add $2, %edx
	mov $PM1_RTC, %ax
	out %ax, %dx /* RTC_EN */
#endif
	mov 64(%ebx), %edx /* PM1a_CNT_BLK */
	mov $(SLP_TYP_S3 << 10 | 0x2000), %ax
	out %ax, %dx
	jmp slept
sleep_reduced:
	mov 248(%ebx), %edx /* SLEEP_CONTROL_REG */
	mov $(SLP_TYP_S3 << 2 | 0x20), %al
	out %al, %dx
slept:
	/* The vCPU stops at the write: nothing here runs after a sleep. */
	mov $0x7c, %eax
	call exit_with

bad_magic:
	mov $0x7e, %eax
	call exit_with
no_facs:
	mov $0x7a, %eax
	call exit_with

/* rtc_write: register %al gets %ah. */
rtc_write:
	out %al, $0x70
	mov %ah, %al
	out %al, $0x71
	ret

/* find_fadt: %ebx = the FADT, through the RSDP (0xe0000-0xfffff) and its
 * XSDT; ends the guest with 0x7b if there is none. */
find_fadt:
	mov $0xe0000, %esi
1:	cmpl $RSD_, (%esi)
	jne 2f
	cmpl $PTR_, 4(%esi)
	je 3f
2:	add $16, %esi
	cmp $0x100000, %esi
	jb 1b
	jmp no_fadt
3:	mov 24(%esi), %esi /* XSDT (below 4 GiB) */
	mov 4(%esi), %ecx
	lea (%esi, %ecx), %ecx /* its end */
	add $36, %esi
4:	cmp %ecx, %esi
	jae no_fadt
	mov (%esi), %ebx
	cmpl $FACP, (%ebx)
	je 5f
	add $8, %esi
	jmp 4b
5:	ret
no_fadt:
	mov $0x7b, %eax
	call exit_with

/* The waking vector's code, run in real mode at RM_BASE after the wake. */
	.code16
rm_start:
	mov %cs, %ax
	cmp $(RM_BASE >> 4), %ax
	jne rm_bad_cs
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %ss
	mov $RM_STACK, %sp
	cmpl $SENTINEL_VALUE, SENTINEL
	jne rm_bad_ram
	mov SAVED_PM1_EVT, %dx
	test %dx, %dx
	jz rm_reduced
	in %dx, %ax
	and $(PM1_WAK | WOKEN_BY), %ax
	cmp $(PM1_WAK | WOKEN_BY), %ax
	jne rm_bad_status
	jmp rm_ok
rm_reduced:
	mov SAVED_SLEEP_STS, %dx
	in %dx, %al
	test $SLEEP_WAK, %al
	jz rm_bad_status
rm_ok:
	mov $COM1, %dx
	mov $(s_resumed - rm_start), %si
1:	mov %cs:(%si), %al
	test %al, %al
	jz 2f
	out %al, %dx
	inc %si
	jmp 1b
2:	mov $0x2c, %eax
	jmp rm_exit
rm_bad_cs:
	mov $0x79, %eax
	jmp rm_exit
rm_bad_ram:
	mov $0x78, %eax
	jmp rm_exit
rm_bad_status:
	mov $0x77, %eax
rm_exit:
	mov $DEBUG_EXIT_PORT, %dx
	out %eax, %dx
3:	hlt
	jmp 3b
s_resumed:
	.asciz "resumed\n"
rm_end:
	.code32

#include "multiboot_common.inc"

	.data
s_sleeping:
	.asciz "sleeping\n"

	.bss
	.align 16
	.space 4096
stack_top:
