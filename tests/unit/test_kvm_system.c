#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/kvm.h>

#include "vm/kvm_system.h"

static int everything(int fd, int cap)
{
	return 1;
}

static int no_pit2(int fd, int cap)
{
	return cap != KVM_CAP_PIT2;
}

static int nothing(int fd, int cap)
{
	return 0;
}

static void complete_kvm_lacks_nothing(void **state)
{
	assert_null(kvm_system_first_missing_capability(-1, everything));
}

static void missing_capability_is_named(void **state)
{
	assert_string_equal(kvm_system_first_missing_capability(-1, no_pit2),
			    "KVM_CAP_PIT2");
	assert_string_equal(kvm_system_first_missing_capability(-1, nothing),
			    "KVM_CAP_USER_MEMORY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(complete_kvm_lacks_nothing),
		cmocka_unit_test(missing_capability_is_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
