#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vm/kernel_cmdline.h"

static void words_are_whole_parameters(void **state)
{
	(void)state;
	assert_true(kernel_cmdline_has_word("noapic", "noapic"));
	assert_true(kernel_cmdline_has_word("ro console=ttyS0 noapic reboot=k",
					    "noapic"));
	assert_true(kernel_cmdline_has_word("quiet\tpci=off", "pci=off"));
	assert_false(kernel_cmdline_has_word("nonoapic", "noapic"));
	assert_false(kernel_cmdline_has_word("noapic2 x", "noapic"));
	assert_false(kernel_cmdline_has_word("pci=offline", "pci=off"));
	assert_false(kernel_cmdline_has_word("", "noapic"));
	assert_false(kernel_cmdline_has_word(NULL, "noapic"));
}

static void keys_match_their_own_parameter_only(void **state)
{
	(void)state;
	assert_true(kernel_cmdline_has_key("root=/dev/vda1 ro", "root"));
	assert_true(kernel_cmdline_has_key("console=ttyS0 root=PARTUUID=x",
					   "root"));
	assert_true(kernel_cmdline_has_key("quiet\troot=/dev/pmem0", "root"));
	/* rootflags= and rootfstype= name no root device. */
	assert_false(
		kernel_cmdline_has_key("rootflags=x rootfstype=ext4", "root"));
	assert_false(kernel_cmdline_has_key("myroot=/dev/vda", "root"));
	assert_false(kernel_cmdline_has_key("root", "root"));
	assert_false(kernel_cmdline_has_key(NULL, "root"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(words_are_whole_parameters),
		cmocka_unit_test(keys_match_their_own_parameter_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
