/* Free page hinting's command ids (virtio spec 5.5.6.4,
 * VIRTIO_BALLOON_F_FREE_PAGE_HINT): who asked for what, and whether the
 * ranges the guest sends now belong to the run the host asked for.
 *
 * The host starts a run by writing a new id (2 and up) into config
 * free_page_hint_cmd_id. The guest answers on the free page queue with a
 * device-readable buffer holding that id, then device-writable buffers,
 * each a block of free guest pages it holds for the host, then a readable
 * buffer holding STOP (0). The host writing DONE (1) lets the guest take
 * the blocks back. The guest keeps the blocks only while the run lasts:
 * a range is trusted (released) only while the host's id is the run's
 * and the guest's last id is the same one.
 *
 * Plain data and logic: the device calls these with its lock held. */
#ifndef TERN_VIRTIO_VIRTIO_BALLOON_HINT_H
#define TERN_VIRTIO_VIRTIO_BALLOON_HINT_H

#include <stdbool.h>
#include <stdint.h>

#define BALLOON_HINT_CMD_STOP 0U
#define BALLOON_HINT_CMD_DONE 1U
/* The first id a run may carry: 0 and 1 are the commands above. */
#define BALLOON_HINT_FIRST_RUN_ID 2U

struct balloon_hint {
	uint32_t host_cmd; /* config free_page_hint_cmd_id */
	uint32_t last_run_id; /* the last id a start gave out */
	uint32_t guest_cmd; /* the last id the guest sent */
	bool guest_cmd_valid; /* it sent one since creation */
	/* The run the guest is sending ranges for (its last id that is not
	 * STOP or DONE); 0: between runs. */
	uint32_t guest_run;
	bool ack_on_stop; /* write DONE as soon as the guest sends STOP */
};

/* Nothing asked, nothing received: host_cmd STOP. */
void balloon_hint_init(struct balloon_hint *h);

/* A new run: the next id (wrapping past 0 and 1). Returns it. */
uint32_t balloon_hint_start(struct balloon_hint *h, bool ack_on_stop);

/* The host ends the run: DONE, the guest may take its pages back. */
void balloon_hint_stop(struct balloon_hint *h);

/* The guest sent `cmd`. Returns true when the host's id just changed to
 * DONE (a STOP ended the host's current run and ack_on_stop was asked):
 * the caller raises the config-change interrupt. */
bool balloon_hint_guest_cmd(struct balloon_hint *h, uint32_t cmd);

/* Whether a range the guest sends now may be released. */
bool balloon_hint_takes_ranges(const struct balloon_hint *h);

/* The driver reset the device: no run is in progress on its side, and
 * the host's id goes back to STOP so that a new driver starts idle. */
void balloon_hint_reset(struct balloon_hint *h);

#endif
