#include "virtio/virtio_balloon_hint.h"

#include <string.h>

static bool is_run_id(uint32_t cmd)
{
	return cmd >= BALLOON_HINT_FIRST_RUN_ID;
}

void balloon_hint_init(struct balloon_hint *h)
{
	memset(h, 0, sizeof(*h));
	h->host_cmd = BALLOON_HINT_CMD_STOP;
}

uint32_t balloon_hint_start(struct balloon_hint *h, bool ack_on_stop)
{
	uint32_t id = h->last_run_id + 1;

	if (!is_run_id(id))
		id = BALLOON_HINT_FIRST_RUN_ID;
	h->last_run_id = id;
	h->host_cmd = id;
	h->ack_on_stop = ack_on_stop;
	return id;
}

void balloon_hint_stop(struct balloon_hint *h)
{
	h->host_cmd = BALLOON_HINT_CMD_DONE;
}

bool balloon_hint_guest_cmd(struct balloon_hint *h, uint32_t cmd)
{
	bool ended_current;

	h->guest_cmd = cmd;
	h->guest_cmd_valid = true;
	if (is_run_id(cmd)) {
		h->guest_run = cmd;
		return false;
	}
	/* STOP, or DONE (the host's word, never the driver's: taken as the
	 * end of its run too). Only the end of the run the host is asking
	 * for now is acknowledged: a STOP that closes an older run (the
	 * guest was still busy when a new start came) must not end the new
	 * one before it began. */
	ended_current = is_run_id(h->host_cmd) && h->guest_run == h->host_cmd;
	h->guest_run = 0;
	if (ended_current && h->ack_on_stop) {
		h->host_cmd = BALLOON_HINT_CMD_DONE;
		return true;
	}
	return false;
}

bool balloon_hint_takes_ranges(const struct balloon_hint *h)
{
	return is_run_id(h->host_cmd) && h->guest_run == h->host_cmd;
}

void balloon_hint_reset(struct balloon_hint *h)
{
	h->guest_run = 0;
	h->host_cmd = BALLOON_HINT_CMD_STOP;
}
