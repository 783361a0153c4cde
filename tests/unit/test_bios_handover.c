/* The PC state a BIOS hands a Multiboot kernel, without KVM: the 8259s' and
 * the PIT's registers as KVM will take them, and the real-mode IVT and its
 * handlers in guest memory. (tests/kvm/test_multiboot.c boots a guest that
 * depends on all of it.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "arch/x86/bios_handover.h"
#include "arch/x86/layout.h"
#include "util/le_bytes.h"

static void pics_take_the_bios_vector_bases_and_masks(void **state)
{
	struct kvm_pic_state master, slave;

	memset(&master, 0x5a, sizeof(master));
	memset(&slave, 0x5a, sizeof(slave));
	bios_handover_pic(&master, &slave);
	assert_int_equal(master.irq_base, 0x08);
	assert_int_equal(slave.irq_base, 0x70);
	assert_int_equal(master.imr, 0xfa); /* IRQ 0 and the cascade open */
	assert_int_equal(slave.imr, 0xff);
	assert_int_equal(master.init_state, 0);
	assert_int_equal(master.isr, 0);
	assert_int_equal(master.auto_eoi, 0);
	assert_int_equal(master.init4, 1);
	/* What KVM owns stays as it gave it. */
	assert_int_equal(master.elcr_mask, 0x5a);
	assert_int_equal(slave.irr, 0x5a);
}

static void pit_channel_0_ticks_at_18_hz(void **state)
{
	struct kvm_pit_state2 pit;

	memset(&pit, 0, sizeof(pit));
	pit.channels[1].mode = 0xff;
	bios_handover_pit(&pit);
	assert_int_equal(pit.channels[0].count, 0); /* KVM: 65536 */
	assert_int_equal(pit.channels[0].mode, 3);
	assert_int_equal(pit.channels[0].rw_mode, 3);
	assert_int_equal(pit.channels[0].gate, 1);
	assert_int_equal(pit.channels[1].mode, 0xff);
}

static uint32_t ivt_entry(const uint8_t *low, int vector)
{
	return le_get32(low + vector * 4);
}

static const uint8_t *handler(const uint8_t *low, uint32_t far)
{
	return low + ((far >> 16) << 4) + (far & 0xffff);
}

static void ivt_points_every_vector_at_a_handler(void **state)
{
	struct guest_memory mem;
	const uint8_t *low;
	const uint8_t master_eoi[] = {0x50, 0xb0, 0x20, 0xe6, 0x20, 0x58, 0xcf};
	const uint8_t slave_eoi[] = {0x50, 0xb0, 0x20, 0xe6, 0xa0,
				     0xe6, 0x20, 0x58, 0xcf};

	assert_int_equal(guest_memory_init(&mem, MiB(2)), 0);
	assert_int_equal(bios_handover_write_ivt(&mem), 0);
	low = guest_memory_ptr(&mem, 0, MiB(1));
	assert_non_null(low);
	for (int v = 0; v < 256; v++) {
		uint32_t far = ivt_entry(low, v);

		assert_int_equal(far >> 16, 0xf000);
		if (v >= 0x08 && v < 0x10)
			assert_memory_equal(handler(low, far), master_eoi,
					    sizeof(master_eoi));
		else if (v >= 0x70 && v < 0x78)
			assert_memory_equal(handler(low, far), slave_eoi,
					    sizeof(slave_eoi));
		else
			assert_int_equal(*handler(low, far), 0xcf); /* iret */
	}
	guest_memory_destroy(&mem);
}

static void ivt_needs_guest_ram_below_1_mib(void **state)
{
	struct guest_memory mem;

	/* Smaller than any VM tern makes: the handlers' page is missing. */
	assert_int_equal(guest_memory_init(&mem, KiB(512)), 0);
	assert_true(bios_handover_write_ivt(&mem) < 0);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pics_take_the_bios_vector_bases_and_masks),
		cmocka_unit_test(pit_channel_0_ticks_at_18_hz),
		cmocka_unit_test(ivt_points_every_vector_at_a_handler),
		cmocka_unit_test(ivt_needs_guest_ram_below_1_mib),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
