/* Signals tern's boot-time marker from a guest: one byte, 123, to I/O port
 * 0x3f0. A program rather than `dd of=/dev/port` because distribution
 * kernels (Debian's cloud kernel among them) are built without /dev/port.
 * Built static so it runs in a bare busybox initramfs. */
#include <stdio.h>
#include <sys/io.h>

#define BOOT_MARKER_PORT 0x3f0
#define BOOT_MARKER_VALUE 123

int main(void)
{
	if (ioperm(BOOT_MARKER_PORT, 1, 1)) {
		perror("tern-boot-marker: ioperm");
		return 1;
	}
	outb(BOOT_MARKER_VALUE, BOOT_MARKER_PORT);
	return 0;
}
