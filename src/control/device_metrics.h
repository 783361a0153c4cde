/* Metrics of the VM's devices: one registry source ("devices") that, while
 * a VM runs, reads every virtio device's core counters (requests, bytes,
 * errors, notifications, interrupts) and the device-specific ones (the
 * balloon's pages and statistics). One source for all devices, so each
 * Prometheus family is declared once with a sample per device, labelled
 * {device="virtio-blk", id="rootfs"}. */
#ifndef TERN_CONTROL_DEVICE_METRICS_H
#define TERN_CONTROL_DEVICE_METRICS_H

#include "control/instance.h"

int device_metrics_register(struct instance *inst, struct tern_error *err);

#endif
