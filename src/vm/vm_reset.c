#include "vm/vm_reset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/reset_rom.h"
#include "snapshot/state_file.h"
#include "snapshot/state_sequence.h"
#include "virtio/virtio_device.h"
#include "vm/vm.h"

/* In memory only, never written to a file: what the snapshot's sequence
 * saves (snapshot/state_sequence.c), whose reset hooks then put back what a
 * PC's reset resets (not the configuration, the clock or the CMOS). */
struct vm_power_on_state {
	struct state_file sf;
};

void vm_reset_forget(struct vm *vm)
{
	struct vm_power_on_state *state = vm->power_on;

	if (!state)
		return;
	state_file_free(&state->sf);
	free(state);
	vm->power_on = NULL;
}

int vm_reset_prepare(struct vm *vm, struct tern_error *err)
{
	struct vm_power_on_state *state = calloc(1, sizeof(*state));
	int ret;

	if (!state)
		return tern_error_set(err, ENOMEM, "out of memory");
	vm->power_on = state;
	state_file_init(&state->sf);
	ret = state_sequence_save(vm, &state->sf, err);
	if (ret) {
		/* err names the device or ioctl; say what it was for. */
		struct tern_error why = *err;

		vm_reset_forget(vm);
		return tern_error_set(err, -ret,
				      "--on-reboot restart needs the VM's "
				      "power-on state: %s",
				      why.message);
	}
	return 0;
}

/* What the guest's driver does when it resets a device (status 0): the
 * device drops its queues, finishes or drops what is in flight, and
 * forgets its host connections (vsock) before its power-on state goes
 * back in. */
static void reset_virtio_devices(struct vm *vm)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		struct virtio_device *vdev = vm->virtio_devices[i].vdev;

		pthread_mutex_lock(&vdev->lock);
		if (vdev->status)
			virtio_device_write_status(vdev, 0);
		pthread_mutex_unlock(&vdev->lock);
	}
}

/* The run loop's own state, as vm_create() left it. */
static void clear_stop(struct vm *vm)
{
	uint64_t count;
	ssize_t ignored = read(vm->stop_eventfd, &count, sizeof(count));

	(void)ignored;
	atomic_store(&vm->stop_reason, VM_STOP_NONE);
	atomic_store(&vm->pause_requested, 0);
	vm->paused = 0;
	vm->paused_clock.clock = 0;
	vm->stop_signal = 0;
	vm_sleep_clear(vm);
}

int vm_reset(struct vm *vm, struct tern_error *err)
{
	struct vm_power_on_state *state = vm->power_on;
	int ret;

	if (!state)
		return tern_error_set(err, EINVAL,
				      "no power-on state to reset to");
	reset_virtio_devices(vm);
	ret = state_sequence_reset(vm, &state->sf, err);
	if (ret)
		return ret;
	/* Guest RAM last: until here a device could still have written it
	 * (a virtio-blk read finishing during its reset). */
	ret = guest_memory_clear(&vm->memory);
	/* With --firmware, vm_load_kernel() copies the firmware there. */
	if (!ret && !vm->config.firmware_path)
		ret = reset_rom_install_alias(&vm->memory);
	if (ret)
		return tern_error_set(err, -ret, "cannot empty guest RAM: %s",
				      strerror(-ret));
	clear_stop(vm);
	return 0;
}
