/* Field layouts follow the Intel MultiProcessor Specification 1.4, chapter 4.
 * Only what Linux reads is filled in: processors, one ISA bus, one IOAPIC,
 * the ISA interrupt routing and the two local interrupt lines. */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

#define MP_SPEC_REVISION 4
#define MP_LAPIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_ISA_IRQ_COUNT 16

enum mp_entry_type {
	MP_ENTRY_PROCESSOR = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IO_INTERRUPT = 3,
	MP_ENTRY_LOCAL_INTERRUPT = 4,
};

enum mp_interrupt_type {
	MP_INTERRUPT_INT = 0,
	MP_INTERRUPT_NMI = 1,
	MP_INTERRUPT_EXTINT = 3,
};

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BOOTSTRAP 0x02
#define MP_IOAPIC_ENABLED 0x01
#define MP_ALL_LAPICS 0xff

struct mp_floating_pointer {
	char signature[4];
	uint32_t config_table_gpa;
	uint8_t length_paragraphs;
	uint8_t spec_revision;
	uint8_t checksum;
	uint8_t features[5];
} __attribute__((packed));

struct mp_config_header {
	char signature[4];
	uint16_t base_table_length;
	uint8_t spec_revision;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table_gpa;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_gpa;
	uint16_t extended_table_length;
	uint8_t extended_table_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t feature_flags;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t ioapic_id;
	uint8_t version;
	uint8_t flags;
	uint32_t gpa;
} __attribute__((packed));

struct mp_interrupt {
	uint8_t type;
	uint8_t interrupt_type;
	uint16_t flags; /* 0: polarity and trigger conform to the bus */
	uint8_t source_bus;
	uint8_t source_irq;
	uint8_t destination_id;
	uint8_t destination_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating_pointer) == 16, "MP spec 4.1");
_Static_assert(sizeof(struct mp_config_header) == 44, "MP spec 4.2");
_Static_assert(sizeof(struct mp_processor) == 20, "MP spec 4.3.1");
_Static_assert(sizeof(struct mp_bus) == 8, "MP spec 4.3.2");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP spec 4.3.3");
_Static_assert(sizeof(struct mp_interrupt) == 8, "MP spec 4.3.4");

/* Family 6 with FPU and APIC present: what the kernel prints for a CPU it
 * has not yet run CPUID on; real values come from CPUID later. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES 0x201

static uint8_t checksum_of(const void *data, size_t len)
{
	const uint8_t *bytes = data;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += bytes[i];
	return (uint8_t)-sum;
}

size_t mptable_config_size(int cpu_count)
{
	return sizeof(struct mp_config_header) +
		(size_t)cpu_count * sizeof(struct mp_processor) +
		sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +
		MP_ISA_IRQ_COUNT * sizeof(struct mp_interrupt) +
		2 * sizeof(struct mp_interrupt);
}

int mptable_write(struct guest_memory *mem, int cpu_count,
		  const uint32_t *apic_ids)
{
	size_t config_size = mptable_config_size(cpu_count);
	uint8_t *config, *cursor;
	struct mp_config_header *header;
	struct mp_floating_pointer *floating;
	uint32_t max_apic_id = 0;
	uint8_t ioapic_id;
	int entry_count = 0;

	if (cpu_count < 1 || config_size > LAYOUT_MP_CONFIG_MAX)
		return -E2BIG;
	for (int i = 0; i < cpu_count; i++)
		if (apic_ids[i] > max_apic_id)
			max_apic_id = apic_ids[i];
	/* The IOAPIC takes the first ID after the processors' own. */
	if (max_apic_id >= 0xfe)
		return -E2BIG;
	ioapic_id = (uint8_t)(max_apic_id + 1);

	config = guest_memory_ptr(mem, LAYOUT_MP_CONFIG_GPA,
				  LAYOUT_MP_CONFIG_MAX);
	floating = guest_memory_ptr(mem, LAYOUT_MP_FLOATING_GPA,
				    sizeof(*floating));
	if (!config || !floating)
		return -EFAULT;
	memset(config, 0, LAYOUT_MP_CONFIG_MAX);

	header = (struct mp_config_header *)config;
	cursor = config + sizeof(*header);
	for (int i = 0; i < cpu_count; i++, entry_count++) {
		struct mp_processor cpu = {
			.type = MP_ENTRY_PROCESSOR,
			.lapic_id = (uint8_t)apic_ids[i],
			.lapic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED |
				(i == 0 ? MP_CPU_BOOTSTRAP : 0),
			.signature = MP_CPU_SIGNATURE,
			.feature_flags = MP_CPU_FEATURES,
		};
		memcpy(cursor, &cpu, sizeof(cpu));
		cursor += sizeof(cpu);
	}

	struct mp_bus isa = {.type = MP_ENTRY_BUS, .bus_id = 0};
	memcpy(isa.bus_type, "ISA   ", sizeof(isa.bus_type));
	memcpy(cursor, &isa, sizeof(isa));
	cursor += sizeof(isa);
	entry_count++;

	struct mp_ioapic ioapic = {
		.type = MP_ENTRY_IOAPIC,
		.ioapic_id = ioapic_id,
		.version = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_ENABLED,
		.gpa = (uint32_t)LAYOUT_IOAPIC_GPA,
	};
	memcpy(cursor, &ioapic, sizeof(ioapic));
	cursor += sizeof(ioapic);
	entry_count++;

	/* KVM's default GSI routing sends ISA IRQ n to IOAPIC pin n (and the
	 * PIT to pin 0), so the table must say exactly that, not the pin-2
	 * timer wiring of real PCs. */
	for (int irq = 0; irq < MP_ISA_IRQ_COUNT; irq++, entry_count++) {
		struct mp_interrupt route = {
			.type = MP_ENTRY_IO_INTERRUPT,
			.interrupt_type = MP_INTERRUPT_INT,
			.source_bus = 0,
			.source_irq = (uint8_t)irq,
			.destination_id = ioapic_id,
			.destination_pin = (uint8_t)irq,
		};
		memcpy(cursor, &route, sizeof(route));
		cursor += sizeof(route);
	}

	/* LINT0 takes the 8259's ExtINT, LINT1 the NMI, on every LAPIC: the
	 * same wiring vcpu_setup programs into the LAPICs themselves. */
	const struct mp_interrupt local_lines[2] = {
		{.type = MP_ENTRY_LOCAL_INTERRUPT,
		 .interrupt_type = MP_INTERRUPT_EXTINT,
		 .destination_id = MP_ALL_LAPICS,
		 .destination_pin = 0},
		{.type = MP_ENTRY_LOCAL_INTERRUPT,
		 .interrupt_type = MP_INTERRUPT_NMI,
		 .destination_id = MP_ALL_LAPICS,
		 .destination_pin = 1},
	};
	memcpy(cursor, local_lines, sizeof(local_lines));
	cursor += sizeof(local_lines);
	entry_count += 2;

	memcpy(header->signature, "PCMP", 4);
	header->base_table_length = (uint16_t)(cursor - config);
	header->spec_revision = MP_SPEC_REVISION;
	memcpy(header->oem_id, "TERN    ", sizeof(header->oem_id));
	memcpy(header->product_id, "TERN VM     ", sizeof(header->product_id));
	header->entry_count = (uint16_t)entry_count;
	header->lapic_gpa = (uint32_t)LAYOUT_LAPIC_GPA;
	header->checksum = checksum_of(config, header->base_table_length);

	memset(floating, 0, sizeof(*floating));
	memcpy(floating->signature, "_MP_", 4);
	floating->config_table_gpa = (uint32_t)LAYOUT_MP_CONFIG_GPA;
	floating->length_paragraphs = 1;
	floating->spec_revision = MP_SPEC_REVISION;
	floating->checksum = checksum_of(floating, sizeof(*floating));
	return 0;
}
