/* Just enough of the PS/2 controller for Linux to find it, reset the machine
 * with it (`reboot` ends with command 0xfe on port 0x64), and receive one key
 * combination: Ctrl-Alt-Del, which the API's SendCtrlAltDel types. The
 * keyboard behind it acknowledges the commands Linux's atkbd driver sends
 * and otherwise stays silent. */
#ifndef TERN_DEVICES_I8042_H
#define TERN_DEVICES_I8042_H

#include "devices/device.h"
#include "devices/irq_line.h"

#define I8042_DATA_PORT 0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KEYBOARD_GSI 1

#define I8042_PORT_SPAN (I8042_COMMAND_PORT - I8042_DATA_PORT + 1)

/* irq may be NULL (no keyboard interrupt). */
struct device *i8042_create(void (*reset)(void *opaque), void *opaque,
			    const struct irq_line *irq);

/* Types Ctrl-Alt-Del (press, then release) on the keyboard, in scan code
 * set 1 or 2 as the controller's translation bit asks. Returns -ENODEV
 * while no guest driver has talked to the keyboard (the keys would go
 * nowhere), -EBUSY when the output queue has no room. */
int i8042_send_ctrl_alt_del(struct device *dev);

#endif
