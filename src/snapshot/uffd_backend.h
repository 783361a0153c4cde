/* Snapshot load with Firecracker's mem_backend "Uffd": guest RAM is left
 * empty and registered with a userfaultfd, which goes to a page fault
 * handler process listening on a Unix stream socket; the handler fills each
 * page the guest (or tern) first touches, usually from the snapshot's
 * memory file. The protocol is Firecracker's (src/vmm/src/persist.rs,
 * send_uffd_handshake): one message, a JSON array of the regions
 * (GuestRegionUffdMapping), with the userfaultfd as SCM_RIGHTS, so a
 * handler written for Firecracker serves tern unchanged. See
 * docs/snapshots.md, "Memory from a page fault handler (Uffd)". */
#ifndef TERN_SNAPSHOT_UFFD_BACKEND_H
#define TERN_SNAPSHOT_UFFD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct vm;

/* One guest memory region as the handler sees it: where it is in tern's
 * address space, its size, where its contents start in the snapshot's
 * memory file, and the page size the handler must copy in. */
struct uffd_region_mapping {
	uint64_t base_host_virt_addr;
	uint64_t size;
	uint64_t offset;
	uint64_t page_size;
};

/* Guest RAM's regions, then hotpluggable memory (it follows RAM in the
 * memory file too); at most this many. */
#define UFFD_MAX_REGIONS 3

/* Firecracker's example handlers read the message with one 1024-byte
 * recv: tern's message always fits. */
#define UFFD_MESSAGE_MAX 1024

/* How long tern waits for the handler to take the message, then to serve
 * the first page, before the load fails (a handler that never answers
 * would otherwise hang the load for good). Long: Firecracker's example
 * handler reads the whole memory file in (MAP_POPULATE) between accepting
 * and reading the message. A handler that closes or exits is noticed at
 * once. */
#define UFFD_HANDSHAKE_TIMEOUT_MS 60000

struct uffd_backend {
	int uffd; /* kept while the VM lives: its faults must never fall
		     back to empty pages when the handler goes away */
	int socket; /* kept open, as Firecracker does: the handler sees
		       tern's end of the connection close when tern exits */
};

/* The handshake message: a JSON array with one object per mapping, fields
 * base_host_virt_addr, size, offset, page_size and page_size_kib (the
 * name Firecracker sent before 1.12; bytes too, as Firecracker has always
 * sent it). Returns its length (no NUL counted) or -ENOSPC. */
int uffd_message_encode(const struct uffd_region_mapping *mappings, int count,
			char *buf, size_t size);

/* The mappings of vm's guest memory (RAM regions, then hotpluggable
 * memory). Returns their count. */
int uffd_backend_mappings(const struct vm *vm,
			  struct uffd_region_mapping out[UFFD_MAX_REGIONS]);

/* Empties guest RAM (so nothing tern wrote at creation shadows the
 * snapshot's pages), creates a userfaultfd,
 * registers every region for missing-page faults, connects to
 * socket_path, sends the message with the userfaultfd, waits until the
 * handler took it and served one page. On success vm->uffd holds the
 * backend (closed by vm_destroy). On failure nothing is left registered
 * and err says which step failed. */
int uffd_backend_attach(struct vm *vm, const char *socket_path,
			struct tern_error *err);

void uffd_backend_close(struct uffd_backend *backend);

#endif
