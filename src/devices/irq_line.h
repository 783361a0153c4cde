/* How a device drives its interrupt line without knowing about KVM: the VM
 * passes a setter (KVM_IRQ_LINE on a real VM, a recorder in unit tests). */
#ifndef TERN_DEVICES_IRQ_LINE_H
#define TERN_DEVICES_IRQ_LINE_H

struct irq_line {
	void (*set_level)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set_level)
		line->set_level(line->opaque, line->gsi, level);
}

#endif
