/* Fuzz target: a snapshot's state file (src/snapshot/state_file.c) and its
 * load through the one save/restore sequence (state_sequence.c: the
 * configuration, every device's check then restore: the platform devices,
 * the PCI bus, the virtio transports and devices) into a VM without KVM
 * (fuzz/lib/fuzz_vm.h). The sections only KVM consumes (clock, irqchips,
 * vCPU registers) are checked but fail at their ioctls.
 * The input's CRC trailer is recomputed, so mutations reach the parser
 * instead of dying at the checksum; after a restore every queue is kicked,
 * as a snapshot load does, so the devices run on the restored rings.
 *
 * FUZZ_WRITE_SEED=PATH build/fuzz/snapshot_state writes the state file of
 * the fuzz VM as it stands (a seed) and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_vm.h"
#include "snapshot/config_state.h"
#include "snapshot/state_sequence.h"

static void write_seed(const char *path)
{
	struct vm *vm = fuzz_vm_get();
	struct state_file sf;
	struct tern_error err = {{0}};
	uint8_t *buf;
	size_t len;

	state_file_init(&sf);
	if (fuzz_vm_save(vm, &sf) ||
	    state_file_serialize(&sf, &buf, &len, &err))
		exit(1);
	fuzz_write_file(path, buf, len);
	free(buf);
	state_file_free(&sf);
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_WRITE_SEED"))
		write_seed(getenv("FUZZ_WRITE_SEED"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = fuzz_vm_get();
	struct snapshot_config snap;
	struct state_file sf;
	struct tern_error err = {{0}};
	uint8_t *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	if (size >= 8) {
		uint32_t crc = (uint32_t)crc32(0, buf, (uInt)(size - 8));

		memcpy(buf + size - 4, &crc, 4);
	}
	memset(&sf, 0, sizeof(sf));
	if (state_file_parse(&sf, buf, size, &err)) {
		state_file_free(&sf); /* buf is the state file's, even now */
		return 0;
	}

	memset(&snap, 0, sizeof(snap));
	config_state_parse(&sf, &snap, &err);
	config_state_free(&snap);
	/* What a load does (snapshot.c, between mapping the memory file and
	 * resuming): every check, then every restore. The machine and vCPU
	 * restores fail at their first ioctl here, after the devices'. */
	if (state_sequence_check(vm, &sf, &err) == 0) {
		state_sequence_restore(vm, &sf, &err);
		for (int i = 0; i < vm->virtio_device_count; i++) {
			struct virtio_device *vdev = vm->virtio_devices[i].vdev;

			for (uint16_t q = 0; q < vdev->queue_count; q++)
				virtio_device_kick(vdev, q);
		}
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "refused: %s\n", err.message);
	}
	state_file_free(&sf);
	return 0;
}
