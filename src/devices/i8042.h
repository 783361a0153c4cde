/* Just enough of the PS/2 controller for Linux to find it and, above all, to
 * reset the machine with it: `reboot` ends with command 0xfe on port 0x64. */
#ifndef TERN_DEVICES_I8042_H
#define TERN_DEVICES_I8042_H

#include "devices/device.h"

#define I8042_DATA_PORT 0x60
#define I8042_COMMAND_PORT 0x64

#define I8042_PORT_SPAN (I8042_COMMAND_PORT - I8042_DATA_PORT + 1)

struct device *i8042_create(void (*reset)(void *opaque), void *opaque);

#endif
