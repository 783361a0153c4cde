#include "vm/kvm_system.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The stable KVM API has been version 12 since Linux 2.6.22; anything else
 * is not a KVM tern understands (api.rst, KVM_GET_API_VERSION). */
#define KVM_EXPECTED_API_VERSION 12

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

static int kvm_check_extension(int fd, int cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap);
}

const char *kvm_system_first_missing_capability(int fd,
						int (*check)(int fd, int cap))
{
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]);
	     i++)
		if (check(fd, required_caps[i].cap) <= 0)
			return required_caps[i].name;
	return NULL;
}

static int check_capabilities(const struct kvm_system *kvm,
			      struct tern_error *err)
{
	const char *missing = kvm_system_first_missing_capability(
		kvm->fd, kvm_check_extension);

	if (missing)
		return tern_error_set(
			err, ENOTSUP,
			"this host's KVM lacks %s, which tern needs", missing);
	return 0;
}

static int query_limits(struct kvm_system *kvm, struct tern_error *err)
{
	int max = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	/* api.rst: without KVM_CAP_MAX_VCPUS, NR_VCPUS applies;
	 * KVM_CAP_NR_VCPUS is the recommended count. */
	if (max <= 0)
		max = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	kvm->max_vcpus = max > 0 ? max : 4;

	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return tern_error_set(err, EIO,
				      "KVM_GET_VCPU_MMAP_SIZE failed: %s",
				      strerror(errno));

	kvm->supported_cpuid.header.nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, &kvm->supported_cpuid) < 0)
		return tern_error_set(err, EIO,
				      "KVM_GET_SUPPORTED_CPUID failed: %s",
				      strerror(errno));
	return 0;
}

int kvm_system_open(struct kvm_system *kvm, const char *path,
		    struct tern_error *err)
{
	int version, ret;

	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		int saved = errno;

		if (saved == ENOENT)
			return tern_error_set(
				err, saved,
				"%s does not exist: load kvm-intel or kvm-amd, "
				"or run on a host with hardware virtualization",
				path);
		if (saved == EACCES || saved == EPERM)
			return tern_error_set(
				err, saved,
				"no permission to open %s: run as root or join "
				"the group that owns it (usually 'kvm')",
				path);
		return tern_error_set(err, saved, "cannot open %s: %s", path,
				      strerror(saved));
	}

	version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version < 0) {
		ret = tern_error_set(err, ENOTTY,
				     "%s is not a KVM device "
				     "(KVM_GET_API_VERSION: %s)",
				     path, strerror(errno));
		goto fail;
	}
	if (version != KVM_EXPECTED_API_VERSION) {
		ret = tern_error_set(
			err, ENOTSUP,
			"%s speaks KVM API version %d; tern needs version %d",
			path, version, KVM_EXPECTED_API_VERSION);
		goto fail;
	}
	ret = check_capabilities(kvm, err);
	if (!ret)
		ret = query_limits(kvm, err);
	if (!ret)
		return 0;
fail:
	close(kvm->fd);
	kvm->fd = -1;
	return ret;
}

void kvm_system_close(struct kvm_system *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
