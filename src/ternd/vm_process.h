/* One VM's tern process as ternd starts, recognises and stops it. The
 * process is a `tern run --config-file F --api-sock S --serial unix:C`
 * in a session of its own (setsid: a ternd that stops or is killed takes
 * no VM with it), its stdout and stderr appended to a log file.
 *
 * Starting is two steps so that a ternd killed in between leaves no VM it
 * has not recorded: vm_process_spawn() forks a child that waits on a pipe;
 * the caller records the pid, then vm_process_release() lets the child
 * exec tern. If ternd dies before releasing, the pipe closes and the child
 * exits without running tern. */
#ifndef TERN_TERND_VM_PROCESS_H
#define TERN_TERND_VM_PROCESS_H

#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

struct vm_launch {
	const char *tern_path;
	const char *config_path;
	const char *api_socket;
	const char *log_path; /* tern's stdout and stderr, appended */
	/* the guest's serial console: tern listens there, ternd relays
	 * (vm_consoles.h) */
	const char *console_socket;
	/* A revert (snapshots.h): `tern restore --snapshot S --mem M
	 * [--paused]` with the same options, in place of `tern run`. NULL
	 * for a boot. */
	const char *snapshot_path, *mem_path;
	int paused;
	/* A live migration's destination (vm_migration.h): `tern run ...
	 * --incoming INCOMING --migration-tls psk=PSK_FILE`. NULL otherwise. */
	const char *incoming, *psk_file;
	/* A jailed VM (vm_jail.h): the child calls enter(enter_opaque),
	 * which becomes the jailed tern, instead of exec'ing tern_path. */
	int (*enter)(void *opaque);
	void *enter_opaque;
};

struct vm_process {
	pid_t pid;
	int pidfd; /* readable once the process has exited */
	uint64_t start_time; /* /proc/PID/stat starttime */
	int is_child; /* ours to reap (waitid) */
	int release_fd; /* spawned, not yet released; else -1 */
};

int vm_process_spawn(const struct vm_launch *launch, struct vm_process *proc,
		     struct tern_error *err);
/* The same two steps for another program ternd runs beside its VMs
 * (dnsmasq): argv[0] is its absolute path; its stdout and stderr are
 * appended to log_path. */
int vm_process_spawn_program(char *const argv[], const char *log_path,
			     struct vm_process *proc, struct tern_error *err);
/* Lets the spawned child exec tern. */
int vm_process_release(struct vm_process *proc, struct tern_error *err);
/* Ends a spawned, unreleased child (it exits without running tern) and
 * reaps it. */
void vm_process_abandon(struct vm_process *proc);

/* Opens a process ternd did not start (a VM of an earlier ternd): 0 when
 * pid is alive, started at start_time and is `tern run --api-sock
 * api_socket` (or `tern restore ... --api-sock api_socket`, a reverted
 * VM), or a jailed tern (`tern-static run --api-sock /run/api.sock` run
 * by the uid that owns the jail root, when api_socket is
 * ROOT/run/api.sock); -ESRCH when it is gone or is another process. */
int vm_process_attach(pid_t pid, uint64_t start_time, const char *api_socket,
		      struct vm_process *proc);

/* The same for such another program: its command line must have an
 * argument equal to arg (its configuration file, say). */
int vm_process_attach_arg(pid_t pid, uint64_t start_time, const char *arg,
			  struct vm_process *proc);

/* Nonzero once the process has exited. */
int vm_process_exited(const struct vm_process *proc);
/* Waits up to timeout_ms for the exit; nonzero if it came. */
int vm_process_wait_exit(const struct vm_process *proc, int timeout_ms);
/* Signals exactly this process (pidfd_send_signal: never a reused pid). */
int vm_process_signal(const struct vm_process *proc, int sig);
/* After the exit: reaps a child and describes how it ended ("exited with
 * status 0", "killed by SIGKILL", or "exited" for a process that was
 * not ternd's child); closes the pidfd. Returns 1 for an end that is not
 * a failure (status 0, or unknown: not ternd's child), else 0. */
int vm_process_finish(struct vm_process *proc, char *how, size_t size);
/* Closes what ternd holds without touching the process. */
void vm_process_forget(struct vm_process *proc);

/* /proc/PID/stat's starttime, or 0 when the process is gone. */
uint64_t vm_process_start_time(pid_t pid);

#endif
