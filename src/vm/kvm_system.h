/* The host's /dev/kvm: opened once, checked for what tern needs, and asked
 * for its limits before any VM exists, so every "this host cannot" error is
 * reported before the guest is touched. */
#ifndef TERN_VM_KVM_SYSTEM_H
#define TERN_VM_KVM_SYSTEM_H

#include "cpu/cpuid.h"
#include "util/error.h"

struct kvm_system {
	int fd;
	int max_vcpus;
	int vcpu_mmap_size;
	struct cpuid_table supported_cpuid;
};

/* Opens path (normally /dev/kvm) and checks the API version and the
 * capabilities tern relies on. Returns 0 or a negative errno with a message
 * that names what is missing. */
int kvm_system_open(struct kvm_system *kvm, const char *path,
		    struct tern_error *err);
void kvm_system_close(struct kvm_system *kvm);

/* Name of the first capability tern requires that check(fd, cap) reports as
 * absent, or NULL. check is KVM_CHECK_EXTENSION on a real host; tests pass
 * their own to play a KVM that lacks something. */
const char *kvm_system_first_missing_capability(int fd,
						int (*check)(int fd, int cap));

#endif
