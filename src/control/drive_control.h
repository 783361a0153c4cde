/* A running drive's backing file replaced: PATCH /drives/{id} with
 * path_on_host after InstanceStart, as Firecracker does it (Kata
 * Containers plugs its containers' disks this way: placeholder drives at
 * boot, the real files later). */
#ifndef TERN_CONTROL_DRIVE_CONTROL_H
#define TERN_CONTROL_DRIVE_CONTROL_H

#include "control/instance.h"

/* 0, or a negative errno with err set: -ENODEV no such drive, -EPERM not
 * started, else why the new file cannot serve (the old one stays). The
 * configuration (GET /vm/config, a snapshot's record) names the new
 * path. */
int instance_replace_drive_file(struct instance *inst, const char *id,
				const char *path, struct tern_error *err);

#endif
