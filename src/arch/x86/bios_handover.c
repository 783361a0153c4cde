/* A Multiboot kernel on a PC starts after the BIOS and a loader (GRUB) ran,
 * and inherits what the BIOS set up: the 8259s at vectors 0x08/0x70 with the
 * timer open, the PIT ticking at 18.2 Hz, a real-mode IVT whose handlers
 * acknowledge that tick. Code that drops back to real mode and waits with
 * STI; HLT relies on it (kvm-unit-tests' realmode test: under QEMU the
 * SeaBIOS tick ends the wait). tern boots Multiboot images with no
 * firmware, so it recreates that much. Linux boots (bzImage, PVH) do not
 * get it: Linux programs its interrupt controllers itself, and a ticking
 * PIT nobody listens to would only cost the host timer wake-ups. */
#include "arch/x86/bios_handover.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"

/* KVM's i8254 read/write states (arch/x86/kvm/i8254.h): RW_STATE_WORD0 is
 * "low byte, then high byte". */
#define PIT_RW_LOW_THEN_HIGH 3
#define PIT_MODE_SQUARE_WAVE 3

#define X86_IRET 0xcf
#define PIC_MASTER_COMMAND 0x20
#define PIC_SLAVE_COMMAND 0xa0
#define PIC_EOI 0x20

/* 16-bit real-mode code; offsets from LAYOUT_BIOS_HANDLERS_GPA. */
enum {
	HANDLER_IRET = 0x000,
	HANDLER_MASTER_IRQ = 0x010,
	HANDLER_SLAVE_IRQ = 0x020,
	HANDLERS_SIZE = 0x030,
};

static const uint8_t iret_only[] = {X86_IRET};

static const uint8_t master_irq[] = {
	0x50, /* push %ax */
	0xb0,	  PIC_EOI, /* mov $0x20, %al */
	0xe6,	  PIC_MASTER_COMMAND, /* out %al, $0x20 */
	0x58, /* pop %ax */
	X86_IRET,
};

/* An IRQ from the slave was delivered through the master's cascade input:
 * both were servicing it. */
static const uint8_t slave_irq[] = {
	0x50, /* push %ax */
	0xb0,	  PIC_EOI, /* mov $0x20, %al */
	0xe6,	  PIC_SLAVE_COMMAND, /* out %al, $0xa0 */
	0xe6,	  PIC_MASTER_COMMAND, /* out %al, $0x20 */
	0x58, /* pop %ax */
	X86_IRET,
};

static void init_pic(struct kvm_pic_state *pic, uint8_t vector_base,
		     uint8_t imr)
{
	pic->irq_base = vector_base;
	pic->imr = imr;
	pic->isr = 0;
	pic->priority_add = 0;
	pic->read_reg_select = 0;
	pic->poll = 0;
	pic->special_mask = 0;
	pic->init_state = 0; /* initialisation done */
	pic->auto_eoi = 0;
	pic->rotate_on_auto_eoi = 0;
	pic->special_fully_nested_mode = 0;
	pic->init4 = 1;
}

/* ICW3 (the slave on the master's IRQ 2) has no field: KVM's pair is
 * always wired that way. */
void bios_handover_pic(struct kvm_pic_state *master,
		       struct kvm_pic_state *slave)
{
	init_pic(master, BIOS_PIC_MASTER_VECTOR_BASE, BIOS_PIC_MASTER_IMR);
	init_pic(slave, BIOS_PIC_SLAVE_VECTOR_BASE, BIOS_PIC_SLAVE_IMR);
}

void bios_handover_pit(struct kvm_pit_state2 *pit)
{
	struct kvm_pit_channel_state *tick = &pit->channels[0];

	tick->count = 0; /* KVM loads 0 as 65536 */
	tick->mode = PIT_MODE_SQUARE_WAVE;
	tick->rw_mode = PIT_RW_LOW_THEN_HIGH;
	tick->read_state = PIT_RW_LOW_THEN_HIGH;
	tick->write_state = PIT_RW_LOW_THEN_HIGH;
	tick->bcd = 0;
	tick->gate = 1;
	tick->count_latched = 0;
	tick->status_latched = 0;
}

/* The BIOS's own segment, as a real BIOS's handlers have it. */
#define HANDLERS_OFFSET                                                        \
	(LAYOUT_BIOS_HANDLERS_GPA -                                            \
	 ((uint64_t)LAYOUT_BIOS_HANDLERS_SEGMENT << 4))
_Static_assert(HANDLERS_OFFSET + HANDLERS_SIZE <= 0x10000,
	       "the handlers lie inside their segment");

static uint32_t far_pointer(uint16_t handler)
{
	return ((uint32_t)LAYOUT_BIOS_HANDLERS_SEGMENT << 16) |
		(uint32_t)(HANDLERS_OFFSET + handler);
}

int bios_handover_write_ivt(const struct guest_memory *mem)
{
	uint8_t handlers[HANDLERS_SIZE];
	uint32_t ivt[256];
	int ret;

	memset(handlers, X86_IRET, sizeof(handlers));
	memcpy(handlers + HANDLER_IRET, iret_only, sizeof(iret_only));
	memcpy(handlers + HANDLER_MASTER_IRQ, master_irq, sizeof(master_irq));
	memcpy(handlers + HANDLER_SLAVE_IRQ, slave_irq, sizeof(slave_irq));
	for (int v = 0; v < 256; v++)
		ivt[v] = far_pointer(HANDLER_IRET);
	for (int irq = 0; irq < 8; irq++) {
		ivt[BIOS_PIC_MASTER_VECTOR_BASE + irq] =
			far_pointer(HANDLER_MASTER_IRQ);
		ivt[BIOS_PIC_SLAVE_VECTOR_BASE + irq] =
			far_pointer(HANDLER_SLAVE_IRQ);
	}
	ret = guest_memory_write(mem, LAYOUT_BIOS_HANDLERS_GPA, handlers,
				 sizeof(handlers));
	if (!ret)
		ret = guest_memory_write(mem, 0, ivt, sizeof(ivt));
	return ret;
}

static int program_pic(int vm_fd, struct tern_error *err)
{
	struct kvm_irqchip master = {.chip_id = KVM_IRQCHIP_PIC_MASTER};
	struct kvm_irqchip slave = {.chip_id = KVM_IRQCHIP_PIC_SLAVE};

	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &master) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &slave) < 0)
		return tern_error_set(err, errno, "KVM_GET_IRQCHIP failed: %s",
				      strerror(errno));
	bios_handover_pic(&master.chip.pic, &slave.chip.pic);
	if (ioctl(vm_fd, KVM_SET_IRQCHIP, &slave) < 0 ||
	    ioctl(vm_fd, KVM_SET_IRQCHIP, &master) < 0)
		return tern_error_set(err, errno, "KVM_SET_IRQCHIP failed: %s",
				      strerror(errno));
	return 0;
}

static int start_pit(int vm_fd, struct tern_error *err)
{
	struct kvm_pit_state2 pit;

	if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
		return tern_error_set(err, errno, "KVM_GET_PIT2 failed: %s",
				      strerror(errno));
	bios_handover_pit(&pit);
	if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
		return tern_error_set(err, errno, "KVM_SET_PIT2 failed: %s",
				      strerror(errno));
	return 0;
}

int bios_handover_apply(int vm_fd, const struct guest_memory *mem,
			struct tern_error *err)
{
	int ret = bios_handover_write_ivt(mem);

	if (ret)
		return tern_error_set(err, -ret,
				      "cannot write the real-mode IVT: %s",
				      strerror(-ret));
	/* The PICs before the tick, so its first interrupt finds them ready. */
	ret = program_pic(vm_fd, err);
	return ret ? ret : start_pit(vm_fd, err);
}
