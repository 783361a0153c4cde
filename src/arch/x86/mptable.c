#include "arch/x86/mptable.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

/* Entry types and sizes (MP specification 1.4, chapter 4). */
#define MP_HEADER_SIZE 44
#define MP_ENTRY_PROCESSOR 0
#define MP_PROCESSOR_SIZE 20
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IO_INTERRUPT 3
#define MP_ENTRY_LOCAL_INTERRUPT 4
#define MP_SMALL_ENTRY_SIZE 8

#define MP_SPEC_REVISION 4 /* 1.4 */
#define MP_APIC_VERSION 0x14 /* an integrated local APIC */
#define MP_IOAPIC_VERSION 0x11 /* KVM's IOAPIC */
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BOOT 0x02
/* Family 6, as a processor entry needs some signature; Linux reads the
 * real one from CPUID. Features: FPU and APIC present. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES 0x201
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
/* Polarity active high (bits 0-1 = 01), trigger edge (bits 2-3 = 01):
 * what the DSDT says of tern's virtio-mmio interrupts. 0 is "conforms to
 * the bus", edge and high on ISA. */
#define MP_EDGE_HIGH 0x0005
#define MP_CONFORMS 0x0000
#define ISA_BUS_ID 0
#define ALL_LOCAL_APICS 0xff

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

static void interrupt_entry(uint8_t *e, uint8_t entry_type,
			    uint8_t interrupt_type, uint16_t flags,
			    uint8_t source_irq, uint8_t destination,
			    uint8_t destination_pin)
{
	e[0] = entry_type;
	e[1] = interrupt_type;
	put16(e + 2, flags);
	e[4] = ISA_BUS_ID;
	e[5] = source_irq;
	e[6] = destination;
	e[7] = destination_pin;
}

long mptable_build(int cpu_count, const uint32_t *apic_ids, uint64_t config_gpa,
		   uint8_t *config, size_t cap, uint8_t floating[16])
{
	/* Processors, the ISA bus, the IOAPIC, one interrupt per IOAPIC
	 * pin, and the two local interrupt lines. */
	int entries = cpu_count + 2 + MPTABLE_IOAPIC_PINS + 2;
	size_t length = MP_HEADER_SIZE + (size_t)cpu_count * MP_PROCESSOR_SIZE +
		(size_t)(entries - cpu_count) * MP_SMALL_ENTRY_SIZE;
	size_t off = MP_HEADER_SIZE;

	if (cpu_count < 1 || config_gpa > UINT32_MAX)
		return -EINVAL;
	for (int i = 0; i < cpu_count; i++)
		/* One byte per id, and 0xff means every processor. */
		if (apic_ids[i] >= ALL_LOCAL_APICS)
			return -EINVAL;
	if (length > cap || length > UINT16_MAX)
		return -E2BIG;
	memset(config, 0, length);

	memcpy(config, "PCMP", 4);
	put16(config + 4, (uint16_t)length);
	config[6] = MP_SPEC_REVISION;
	memcpy(config + 8, "TERN    ", 8); /* OEM id */
	memcpy(config + 16, "TERNKVM     ", 12); /* product id */
	put16(config + 34, (uint16_t)entries);
	put32(config + 36, (uint32_t)LAYOUT_LAPIC_GPA);

	for (int i = 0; i < cpu_count; i++, off += MP_PROCESSOR_SIZE) {
		uint8_t *e = config + off;

		e[0] = MP_ENTRY_PROCESSOR;
		e[1] = (uint8_t)apic_ids[i];
		e[2] = MP_APIC_VERSION;
		e[3] = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOT : 0);
		put32(e + 4, MP_CPU_SIGNATURE);
		put32(e + 8, MP_CPU_FEATURES);
	}

	config[off] = MP_ENTRY_BUS;
	config[off + 1] = ISA_BUS_ID;
	memcpy(config + off + 2, "ISA   ", 6);
	off += MP_SMALL_ENTRY_SIZE;

	config[off] = MP_ENTRY_IOAPIC;
	config[off + 1] = LAYOUT_IOAPIC_ID;
	config[off + 2] = MP_IOAPIC_VERSION;
	config[off + 3] = 1; /* usable */
	put32(config + off + 4, (uint32_t)LAYOUT_IOAPIC_GPA);
	off += MP_SMALL_ENTRY_SIZE;

	/* ISA IRQ n on pin n, the PIT's included: KVM's default routing,
	 * and what the MADT's lack of overrides says. Pins 16-23 carry
	 * tern's virtio-mmio devices (edge, active high); they are listed
	 * on the ISA bus as Firecracker lists them, since MP tables name
	 * no other source for them. */
	for (int pin = 0; pin < MPTABLE_IOAPIC_PINS;
	     pin++, off += MP_SMALL_ENTRY_SIZE)
		interrupt_entry(config + off, MP_ENTRY_IO_INTERRUPT, MP_INT,
				pin < 16 ? MP_CONFORMS : MP_EDGE_HIGH,
				(uint8_t)pin, LAYOUT_IOAPIC_ID, (uint8_t)pin);

	/* LINT0 takes the 8259's ExtINT, LINT1 is NMI, on every processor,
	 * as on a PC (the MADT says the same of LINT1). */
	interrupt_entry(config + off, MP_ENTRY_LOCAL_INTERRUPT, MP_EXTINT,
			MP_CONFORMS, 0, ALL_LOCAL_APICS, 0);
	off += MP_SMALL_ENTRY_SIZE;
	interrupt_entry(config + off, MP_ENTRY_LOCAL_INTERRUPT, MP_NMI,
			MP_CONFORMS, 0, ALL_LOCAL_APICS, 1);
	config[7] = checksum(config, length);

	memset(floating, 0, 16);
	memcpy(floating, "_MP_", 4);
	put32(floating + 4, (uint32_t)config_gpa);
	floating[8] = 1; /* length in 16-byte units */
	floating[9] = MP_SPEC_REVISION;
	/* Feature byte 1 = 0: the configuration table is there, no default
	 * configuration; byte 2 bit 7 = 0: virtual-wire mode, no IMCR. */
	floating[10] = checksum(floating, 16);
	return (long)length;
}

int mptable_write(struct guest_memory *mem, int cpu_count,
		  const uint32_t *apic_ids)
{
	uint8_t *config =
		guest_memory_ptr(mem, MPTABLE_CONFIG_GPA, MPTABLE_CONFIG_MAX);
	uint8_t *floating = guest_memory_ptr(mem, MPTABLE_FLOATING_GPA, 16);
	uint8_t pointer[16];
	long length;

	if (!config || !floating)
		return -EFAULT;
	length = mptable_build(cpu_count, apic_ids, MPTABLE_CONFIG_GPA, config,
			       MPTABLE_CONFIG_MAX, pointer);
	if (length < 0)
		return (int)length;
	memcpy(floating, pointer, sizeof(pointer));
	return 0;
}
