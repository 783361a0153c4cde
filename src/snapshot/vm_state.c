#include "snapshot/vm_state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "snapshot/snapshot_sections.h"
#include "util/log.h"

static int vm_ioctl_error(struct tern_error *err, const char *what)
{
	return tern_error_set(err, errno, "%s failed: %s", what,
			      strerror(errno));
}

static const struct {
	enum snap_section_id id;
	const char *name;
	uint32_t chip_id;
} irqchips[] = {
	{SNAP_VM_PIC_MASTER, "vm.pic_master", KVM_IRQCHIP_PIC_MASTER},
	{SNAP_VM_PIC_SLAVE, "vm.pic_slave", KVM_IRQCHIP_PIC_SLAVE},
	{SNAP_VM_IOAPIC, "vm.ioapic", KVM_IRQCHIP_IOAPIC},
};
#define IRQCHIP_COUNT (sizeof(irqchips) / sizeof(irqchips[0]))

int vm_state_save(struct vm *vm, struct state_file *sf, struct tern_error *err)
{
	struct snap_vm_meta meta;
	struct kvm_clock_data clock;
	struct kvm_pit_state2 pit;
	int ret;

	memset(&meta, 0, sizeof(meta));
	meta.vcpu_count = (uint32_t)vm->vcpu_count;
	meta.memory_size = vm->memory.ram_size;
	meta.region_count = (uint32_t)vm->memory.region_count;
	for (int i = 0; i < vm->memory.region_count; i++) {
		meta.region_gpa[i] = vm->memory.regions[i].gpa;
		meta.region_size[i] = vm->memory.regions[i].size;
	}
	ret = state_file_add(sf, SNAP_VM_META, "vm.meta", &meta, sizeof(meta),
			     err);
	if (ret)
		return ret;

	/* Paused: the clock as the guest last saw it (vm_pause() read it),
	 * so the pause does not count as guest time. */
	memset(&clock, 0, sizeof(clock));
	if (vm->paused_clock.clock)
		clock = vm->paused_clock;
	else if (ioctl(vm->fd, KVM_GET_CLOCK, &clock) < 0)
		return vm_ioctl_error(err, "KVM_GET_CLOCK");
	/* Only the value and, for a restore's clock_realtime, the host's
	 * real time it was read at: the rest describes this host. */
	clock = (struct kvm_clock_data){
		.clock = clock.clock,
		.flags = clock.flags & KVM_CLOCK_REALTIME,
		.realtime =
			clock.flags & KVM_CLOCK_REALTIME ? clock.realtime : 0,
	};
	ret = state_file_add(sf, SNAP_VM_CLOCK, "vm.clock", &clock,
			     sizeof(clock), err);

	for (size_t i = 0; !ret && i < IRQCHIP_COUNT; i++) {
		struct kvm_irqchip chip;

		memset(&chip, 0, sizeof(chip));
		chip.chip_id = irqchips[i].chip_id;
		if (ioctl(vm->fd, KVM_GET_IRQCHIP, &chip) < 0)
			return vm_ioctl_error(err, "KVM_GET_IRQCHIP");
		ret = state_file_add(sf, irqchips[i].id, irqchips[i].name,
				     &chip, sizeof(chip), err);
	}
	if (ret)
		return ret;

	memset(&pit, 0, sizeof(pit));
	if (ioctl(vm->fd, KVM_GET_PIT2, &pit) < 0)
		return vm_ioctl_error(err, "KVM_GET_PIT2");
	return state_file_add(sf, SNAP_VM_PIT, "vm.pit", &pit, sizeof(pit),
			      err);
}

int vm_state_check(const struct vm *vm, const struct state_file *sf,
		   struct tern_error *err)
{
	const struct state_section *s = state_file_require(
		sf, SNAP_VM_META, "vm.meta", sizeof(struct snap_vm_meta), err);
	struct snap_vm_meta meta;

	if (!s)
		return -EINVAL;
	memcpy(&meta, s->data, sizeof(meta));
	if (meta.vcpu_count != (uint32_t)vm->vcpu_count)
		return tern_error_set(err, EINVAL,
				      "the snapshot has %u vCPUs, this VM %d",
				      meta.vcpu_count, vm->vcpu_count);
	if (meta.memory_size != vm->memory.ram_size)
		return tern_error_set(
			err, EINVAL,
			"the snapshot has %llu MiB of memory, "
			"this VM %llu MiB",
			(unsigned long long)(meta.memory_size >> 20),
			(unsigned long long)(vm->memory.ram_size >> 20));
	if (meta.region_count != (uint32_t)vm->memory.region_count)
		return tern_error_set(err, EINVAL,
				      "the snapshot's memory layout differs "
				      "from this VM's");
	for (int i = 0; i < vm->memory.region_count; i++)
		if (meta.region_gpa[i] != vm->memory.regions[i].gpa ||
		    meta.region_size[i] != vm->memory.regions[i].size)
			return tern_error_set(err, EINVAL,
					      "the snapshot's memory layout "
					      "differs from this VM's");
	return 0;
}

int vm_state_reset(struct vm *vm, const struct state_file *sf,
		   struct tern_error *err)
{
	const struct state_section *s;

	s = state_file_require(sf, SNAP_VM_PIT, "vm.pit",
			       sizeof(struct kvm_pit_state2), err);
	if (!s)
		return -EINVAL;
	if (ioctl(vm->fd, KVM_SET_PIT2, s->data) < 0)
		return vm_ioctl_error(err, "KVM_SET_PIT2");

	for (size_t i = 0; i < IRQCHIP_COUNT; i++) {
		struct kvm_irqchip chip;

		s = state_file_require(sf, irqchips[i].id, irqchips[i].name,
				       sizeof(chip), err);
		if (!s)
			return -EINVAL;
		memcpy(&chip, s->data, sizeof(chip));
		if (chip.chip_id != irqchips[i].chip_id)
			return tern_error_set(err, EINVAL,
					      "snapshot section %s is for "
					      "another interrupt controller",
					      irqchips[i].name);
		if (ioctl(vm->fd, KVM_SET_IRQCHIP, &chip) < 0)
			return vm_ioctl_error(err, "KVM_SET_IRQCHIP");
	}
	return 0;
}

/* clock_realtime: the saved clock plus the host's real time since it
 * was read (the snapshotted VM's pause), as Firecracker asks KVM with
 * KVM_CLOCK_REALTIME. A snapshot that recorded no real time (older tern)
 * or a host clock that went back keeps the saved value. */
static uint64_t realtime_now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

static uint64_t advanced_by_real_time(const struct kvm_clock_data *saved)
{
	uint64_t now_ns;

	if (!(saved->flags & KVM_CLOCK_REALTIME)) {
		log_warn("clock_realtime: the snapshot records no host time; "
			 "the guest's clock goes on from the snapshot's");
		return saved->clock;
	}
	now_ns = realtime_now_ns();
	if (now_ns <= saved->realtime)
		return saved->clock;
	return saved->clock + (now_ns - saved->realtime);
}

int vm_state_restore(struct vm *vm, const struct state_file *sf,
		     struct tern_error *err)
{
	const struct state_section *s;
	struct kvm_clock_data clock;
	int ret = vm_state_reset(vm, sf, err);

	if (ret)
		return ret;
	s = state_file_require(sf, SNAP_VM_CLOCK, "vm.clock", sizeof(clock),
			       err);
	if (!s)
		return -EINVAL;
	memcpy(&clock, s->data, sizeof(clock));
	if (vm->restore_clock_realtime)
		clock.clock = advanced_by_real_time(&clock);
	/* Only the value: the flags and the host-time fields describe the
	 * old host. */
	clock = (struct kvm_clock_data){.clock = clock.clock};
	if (ioctl(vm->fd, KVM_SET_CLOCK, &clock) < 0)
		return vm_ioctl_error(err, "KVM_SET_CLOCK");
	/* vm_resume() sets it again if the VM starts paused; a snapshot of
	 * it before then records the host's time now, for its own
	 * clock_realtime. */
	vm->paused_clock = (struct kvm_clock_data){
		.clock = clock.clock,
		.flags = KVM_CLOCK_REALTIME,
		.realtime = realtime_now_ns(),
	};
	return 0;
}
