/* QEMU's isa-debugcon as SeaBIOS uses it: the firmware writes its debug
 * messages one byte at a time to port 0x402, after checking that a read of
 * the port returns 0xe9 (its "is anyone there" test; elsewhere the port
 * reads all-ones and the firmware stays silent). tern collects the bytes
 * into lines and logs each at debug level as "firmware: ...", so
 * `--log-level debug` shows what the firmware did. Only with --firmware. */
#ifndef TERN_DEVICES_DEBUG_CONSOLE_H
#define TERN_DEVICES_DEBUG_CONSOLE_H

#include "devices/device.h"

#define DEBUG_CONSOLE_PORT 0x402
#define DEBUG_CONSOLE_READBACK 0xe9
/* A line longer than this is logged in pieces: a guest that never writes a
 * newline cannot make tern buffer without end. */
#define DEBUG_CONSOLE_LINE_MAX 200

struct device *debug_console_create(void);

#endif
