#include "vm/vm_hyperv.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/hyperv_testdev.h"
#include "util/log.h"
#include "vm/vm.h"

static void raise_gsi(void *opaque, uint32_t gsi)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = 1};

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		log_ratelimited(&vm->hyperv_log, LOG_WARN,
				"KVM_IRQ_LINE gsi %u (a SINT) failed: %s", gsi,
				strerror(errno));
}

/* VP index n is vCPU n (cpu/hyperv.c sets it so). */
static bool synic_of(void *opaque, uint32_t vp_index, uint64_t *control,
		     uint64_t *msg_page, uint64_t *evt_page)
{
	struct vm *vm = opaque;
	struct hyperv_synic_state *s;

	if (vp_index >= (uint32_t)vm->config.cpu_count)
		return false;
	s = &vm->vcpus[vp_index].synic;
	*control = atomic_load(&s->control);
	*msg_page = atomic_load(&s->msg_page);
	*evt_page = atomic_load(&s->evt_page);
	return true;
}

/* An irqfd on gsi whose resample eventfd is the device's ack_fd: KVM
 * signals it when the guest acknowledges the SINT (EOM, or EOI of its
 * vector). The irqfd's own eventfd is never written (KVM_IRQ_LINE raises
 * the SINT); it is the handle. */
static int watch_ack(void *opaque, uint32_t gsi, int ack_fd)
{
	struct vm *vm = opaque;
	int fd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd irqfd = {
		.gsi = gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE,
		.resamplefd = (uint32_t)ack_fd,
	};

	if (fd < 0)
		return -errno;
	irqfd.fd = (uint32_t)fd;
	if (ioctl(vm->fd, KVM_IRQFD, &irqfd) < 0) {
		int saved = errno;

		close(fd);
		return -saved;
	}
	return fd;
}

static void unwatch_ack(void *opaque, uint32_t gsi, int handle)
{
	struct vm *vm = opaque;
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)handle,
		.gsi = gsi,
		.flags = KVM_IRQFD_FLAG_DEASSIGN,
	};

	ioctl(vm->fd, KVM_IRQFD, &irqfd);
	close(handle);
}

int vm_add_hyperv_testdev(struct vm *vm, struct tern_error *err)
{
	struct hyperv_testdev_host host = {
		.raise = raise_gsi,
		.synic = synic_of,
		.watch_ack = watch_ack,
		.unwatch_ack = unwatch_ack,
		.opaque = vm,
		.routing = &vm->irq_routing,
		.memory = &vm->memory,
		.vcpu_count = vm->config.cpu_count,
		.ack_fd = eventfd(0, EFD_CLOEXEC),
	};
	struct hyperv_testdev *t;
	int ret;

	if (!vm->config.kvm_hyperv)
		return tern_error_set(err, EINVAL,
				      "--hyperv-testdev needs --hyperv "
				      "(machine-config.kvm_hyperv)");
	if (host.ack_fd < 0)
		return tern_error_set(err, errno, "eventfd: %s",
				      strerror(errno));
	t = hyperv_testdev_create(&host);
	if (!t)
		return tern_error_set(err, ENOMEM,
				      "cannot create hyperv-testdev");
	ret = io_bus_register(&vm->pio_bus, HYPERV_TESTDEV_PORT,
			      HYPERV_TESTDEV_PORT_COUNT,
			      hyperv_testdev_device(t));
	if (ret) {
		hyperv_testdev_device(t)->ops->destroy(
			hyperv_testdev_device(t));
		return tern_error_set(err, -ret,
				      "cannot place hyperv-testdev at 0x%x: %s",
				      HYPERV_TESTDEV_PORT, strerror(-ret));
	}
	vm->hyperv_hcall =
		(struct hyperv_hcall_handler){hyperv_testdev_hypercall, t};
	return 0;
}
