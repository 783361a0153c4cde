#include "arch/x86/reset_rom.h"

#include <string.h>

#include "arch/x86/layout.h"

#define X86_HLT 0xf4

/* The same bytes run unchanged in real, 32-bit protected and 64-bit mode: a
 * guest reaches the vector from any of them (0xf000:0xfff0 from real mode,
 * 0xfffffff0 from a flat protected- or long-mode jump). Only 8-bit moves
 * (whose immediates no operand-size rule changes), a port write through DX
 * and HLT are used; DH is reachable without a REX prefix in long mode. The
 * write ends the VM at once; the HLT loop only stops a vCPU that would
 * otherwise run on meanwhile. */
static const uint8_t reset_vector[LAYOUT_RESET_VECTOR_SIZE] = {
	0xfa, /* cli */
	0xb2,	 TERN_RESET_PORT & 0xff, /* mov $port_lo, %dl */
	0xb6,	 TERN_RESET_PORT >> 8, /* mov $port_hi, %dh */
	0xb0,	 TERN_RESET_PORT_VALUE, /* mov $value, %al */
	0xee, /* out %al, %dx */
	X86_HLT, /* 1: hlt */
	0xeb,	 0xfd, /* jmp 1b (rel8 -3) */
	/* 5 bytes of zero padding up to the 4 GiB boundary */
};

const uint8_t *reset_rom_vector(void)
{
	return reset_vector;
}

void reset_rom_fill(uint8_t *rom, size_t size)
{
	/* A stray jump anywhere else into the ROM halts instead of running
	 * zeros (which decode as memory writes). */
	memset(rom, X86_HLT, size - sizeof(reset_vector));
	memcpy(rom + size - sizeof(reset_vector), reset_vector,
	       sizeof(reset_vector));
}

int reset_rom_install_alias(struct guest_memory *mem)
{
	return guest_memory_write(mem, LAYOUT_RESET_VECTOR_ALIAS_GPA,
				  reset_vector, sizeof(reset_vector));
}
