# tern build. `make` builds build/tern; `make test-unit` runs the cmocka unit
# tests both plain and under AddressSanitizer + UndefinedBehaviorSanitizer.

CC ?= cc
CFLAGS_COMMON := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-D_GNU_SOURCE -Isrc -MMD -MP
CFLAGS_RELEASE := $(CFLAGS_COMMON) -O2 -g
# The sanitizer build is a test build: TERN_TEST_HOOKS compiles in test-only
# triggers (see src/sandbox/seccomp.h) that release builds never have.
CFLAGS_ASAN := $(CFLAGS_COMMON) -DTERN_TEST_HOOKS -O1 -g -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
LDLIBS := -lmicrohttpd -ljansson -luring -lseccomp -lssl -lcrypto -lm -lpthread -lz

# Each program's main.c (tern, ternd, ternctl) stays out of the library.
SRCS := $(shell find src -name '*.c' ! -name main.c ! -path 'src/static/*' | sort)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

OBJS := $(SRCS:%.c=build/obj/%.o)
ASAN_OBJS := $(SRCS:%.c=build/asan/obj/%.o)

.PHONY: all asan unit-tests kvm-tests fuzz format format-check clean guests install

all: build/tern build/firecracker build/tern-static build/ternd build/ternctl guests

# Firecracker's clients start a program named "firecracker": tern is that
# program under this name (src/main.c).
build/firecracker: build/tern
	ln -sf tern $@

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_RELEASE) -c $< -o $@

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -c $< -o $@

build/libtern.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

build/asan/libtern.a: $(ASAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

# libmicrohttpd comes in statically, with the GnuTLS stand-ins of
# build/tern-static (below): Debian's shared libmicrohttpd pulls in GnuTLS
# and, through its constructor's gnutls_global_init(), p11-kit, nettle,
# gmp, libtasn1, libunistring, libidn2 and libffi, ~2.3 MiB resident in
# every tern for TLS that tern's Unix-socket API never uses
# (docs/benchmarks.md, "Memory per VM"). The other libraries come in
# statically too: each shared library costs every tern its own GOT, data
# and loader pages, and linked in only the objects tern calls are there
# (an idle VM's tern: 2.94 to 2.77 MiB RSS beyond guest RAM). glibc stays
# shared (NSS and dlopen need it; tern-static below is for the jail).
TERN_LDLIBS := -Wl,-Bstatic -lmicrohttpd -ljansson -luring -lseccomp -lssl \
	-lcrypto -lz -Wl,-Bdynamic -lm -lpthread
build/tern: build/obj/src/main.o build/libtern.a \
		build/obj/src/static/microhttpd_without_gnutls.o
	$(CC) $(CFLAGS_RELEASE) -o $@ $^ $(TERN_LDLIBS)

# tern linked statically, for `tern jailer` (the jail has no loader and no
# libraries). The .a files come from the same Debian -dev packages (see
# scripts/install-deps.sh), except GnuTLS, which Debian's libmicrohttpd.a
# wants and cannot get statically (p11-kit has no .a): tern never uses
# microhttpd's TLS, and src/static/microhttpd_without_gnutls.c stands in
# for it. glibc warns that getaddrinfo/gethostbyname/dlopen need its shared
# libraries at run time: see docs/security.md, "Jailer", for why tern does
# not need them in the jail.
STATIC_LDLIBS := -lmicrohttpd -ljansson -luring -lseccomp -lssl -lcrypto -lz \
	-lm -lpthread
build/tern-static: build/obj/src/main.o build/libtern.a \
		build/obj/src/static/microhttpd_without_gnutls.o
	$(CC) $(CFLAGS_RELEASE) -static -o $@ $^ $(STATIC_LDLIBS)

build/asan/tern: build/asan/obj/src/main.o build/asan/libtern.a
	$(CC) $(CFLAGS_ASAN) -o $@ $^ $(LDLIBS)

# ternd, the host's VM manager, and ternctl, its client (docs/ternd.md).
TERND_LDLIBS := -lsqlite3 -lgnutls $(LDLIBS)
build/ternd: build/obj/src/ternd/main.o build/libtern.a
	$(CC) $(CFLAGS_RELEASE) -o $@ $^ $(TERND_LDLIBS)

build/ternctl: build/obj/src/ternctl/main.o build/libtern.a
	$(CC) $(CFLAGS_RELEASE) -o $@ $^ $(LDLIBS)

build/asan/ternd: build/asan/obj/src/ternd/main.o build/asan/libtern.a
	$(CC) $(CFLAGS_ASAN) -o $@ $^ $(TERND_LDLIBS)

build/asan/ternctl: build/asan/obj/src/ternctl/main.o build/asan/libtern.a
	$(CC) $(CFLAGS_ASAN) -o $@ $^ $(LDLIBS)

# What the unit tests share (tests/unit/*.c not named test_*, e.g. the
# virtio test driver) is an archive linked into each, so a test takes in
# only what it calls.
UNIT_SHARED_SRCS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
UNIT_SHARED_OBJS := $(UNIT_SHARED_SRCS:tests/unit/%.c=build/unit/obj/%.o)
UNIT_SHARED_ASAN_OBJS := $(UNIT_SHARED_SRCS:tests/unit/%.c=build/asan/unit/obj/%.o)

build/unit/obj/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_RELEASE) -Itests -c $< -o $@

build/asan/unit/obj/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -Itests -c $< -o $@

build/unit/libunit.a: $(UNIT_SHARED_OBJS)
	@rm -f $@
	ar rcs $@ $^

build/asan/unit/libunit.a: $(UNIT_SHARED_ASAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

build/unit/%: tests/unit/%.c build/unit/libunit.a build/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_RELEASE) -Itests -o $@ $< build/unit/libunit.a \
		build/libtern.a -lcmocka $(LDLIBS)

build/asan/unit/%: tests/unit/%.c build/asan/unit/libunit.a build/asan/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -Itests -o $@ $< build/asan/unit/libunit.a \
		build/asan/libtern.a -lcmocka $(LDLIBS)

# Unit tests of ternd's state database link SQLite.
build/unit/test_ternd_db build/asan/unit/test_ternd_db: LDLIBS := -lsqlite3 $(LDLIBS)
build/unit/test_snapshots build/asan/unit/test_snapshots: LDLIBS := -lsqlite3 $(LDLIBS)
build/unit/test_migration_address build/asan/unit/test_migration_address: LDLIBS := -lsqlite3 $(LDLIBS)

asan: build/asan/tern build/asan/ternd build/asan/ternctl $(UNIT_TESTS:%=build/asan/unit/%)

unit-tests: $(UNIT_TESTS:%=build/unit/%) $(UNIT_TESTS:%=build/asan/unit/%)

# libFuzzer targets (fuzz/*.c, docs/security.md "Fuzzing"): clang builds the whole
# library again with coverage instrumentation, ASan and UBSan into
# build/fuzz/obj; gcc stays the compiler for everything else.
FUZZ_CC ?= clang
# (the kernel's kvm_cpuid2 ends in a flexible array, which clang names)
CFLAGS_FUZZ := $(CFLAGS_COMMON) -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer \
	-Wno-gnu-variable-sized-type-not-at-end
FUZZ_OBJS := $(SRCS:%.c=build/fuzz/obj/%.o)
FUZZ_LIB_SRCS := $(wildcard fuzz/lib/*.c)
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=build/fuzz/obj/%.o)
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_FUZZ) -Ifuzz/lib -c $< -o $@

build/fuzz/libtern.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/%: build/fuzz/obj/fuzz/%.o $(FUZZ_LIB_OBJS) build/fuzz/libtern.a
	$(FUZZ_CC) $(CFLAGS_FUZZ) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
# The migration requests' parsers sit beside ternd's database code.
build/fuzz/ternd_migration_request: LDLIBS := $(TERND_LDLIBS)

fuzz: $(FUZZ_TARGETS:%=build/fuzz/%)

# Tiny project-built guests for the direct /dev/kvm tests: flat binaries
# assembled from tests/kvm/guests/*.S.
MULTIBOOT_GUEST_SRCS := $(wildcard tests/kvm/guests/multiboot_*.S)
GUEST_SRCS := $(filter-out $(MULTIBOOT_GUEST_SRCS),$(wildcard tests/kvm/guests/*.S))
GUEST_BINS := $(GUEST_SRCS:tests/kvm/guests/%.S=build/guests/%.bin)
MULTIBOOT_GUESTS := build/guests/multiboot_elf.elf build/guests/multiboot_aout.bin \
	build/guests/multiboot_realmode.elf \
	build/guests/multiboot_s3.elf build/guests/multiboot_s3button.elf
guests: $(GUEST_BINS) $(MULTIBOOT_GUESTS)

# Linked at 0x1000, where the tests load and enter them in real mode.
build/guests/%.bin: tests/kvm/guests/%.S
	@mkdir -p $(dir $@)
	$(CC) -c -o build/guests/$*.o $<
	ld -m elf_x86_64 -Ttext=0x1000 -o build/guests/$*.elf build/guests/$*.o
	objcopy -O binary -j .text build/guests/$*.elf $@

# 32-bit test guests as PVH ELF kernels that tern run --kernel boots:
# protected32 prints "326" on COM1 and resets (the sandbox suite's jailed
# tern); spin32 spins with markers on its stack (the CLI's vCPU report);
# idle32 halts for ever at no CPU cost (the ternd suite's VMs); ged32 does
# the same after unmasking the power button's IOAPIC pin (the API's and
# ternd's power button tests); fill32 dirties 480 MiB and spins
# (bench/migration-transport); echo32 echoes its serial input (ternd's
# console tests); count32 counts in RAM (ternd's snapshot tests); tick32
# counts and prints the count (the API's Uffd snapshot test).
guests: build/guests/protected32-pvh.elf build/guests/spin32-pvh.elf \
	build/guests/idle32-pvh.elf build/guests/ged32-pvh.elf \
	build/guests/fill32-pvh.elf build/guests/echo32-pvh.elf \
	build/guests/count32-pvh.elf build/guests/tick32-pvh.elf
# The note is its own target: built inside each link, parallel links (make
# -j) rewrote it under one another and a guest could lose its PVH entry.
build/guests/pvh_note.o: tests/sandbox/pvh_note.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<
build/guests/%-pvh.elf: build/guests/%.bin build/guests/pvh_note.o
	ld -m elf_x86_64 -z noexecstack -Ttext-segment=0x100000 -o $@ \
		build/guests/$*.o build/guests/pvh_note.o

# Multiboot guests are 32-bit images that tern loads itself: an ELF32 at
# 1 MiB (-n: no page-aligned headers below it), and a flat binary at 2 MiB
# whose header carries its addresses (the a.out kludge).
MULTIBOOT_GUEST_DEPS := tests/kvm/guests/multiboot_defs.inc \
	tests/kvm/guests/multiboot_common.inc tests/kvm/guests/multiboot_s3.S
build/guests/multiboot_%.o: tests/kvm/guests/multiboot_%.S $(MULTIBOOT_GUEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $@ $<

build/guests/multiboot_%.elf: build/guests/multiboot_%.o
	ld -m elf_i386 -n --no-warn-rwx-segments -Ttext=0x100000 -o $@ $<

build/guests/multiboot_aout.bin: build/guests/multiboot_aout.o
	ld -m elf_i386 -n --no-warn-rwx-segments -Ttext=0x200000 -o build/guests/multiboot_aout.elf $<
	objcopy -O binary -j .text build/guests/multiboot_aout.elf $@

KVM_TESTS := $(patsubst tests/kvm/%.c,%,$(wildcard tests/kvm/test_*.c))
build/kvm/%: tests/kvm/%.c build/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_RELEASE) -Itests -o $@ $< build/libtern.a -lcmocka $(LDLIBS)
kvm-tests: $(KVM_TESTS:%=build/kvm/%) guests

FORMAT_FILES := $(shell find src tests fuzz -name '*.[ch]')
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# make install [PREFIX=/usr/local] [DESTDIR=]: the programs (ternd finds
# the tern beside it), ternd-tls-certs (remote access's certificates), the
# man pages and ternctl's bash, zsh and fish completions; the
# systemd unit (scripts/systemd/ternd.service) names PREFIX/bin/ternd.
PREFIX ?= /usr/local
install: build/tern build/ternd build/ternctl
	install -D -m 0755 build/tern $(DESTDIR)$(PREFIX)/bin/tern
	install -D -m 0755 build/ternd $(DESTDIR)$(PREFIX)/bin/ternd
	install -D -m 0755 build/ternctl $(DESTDIR)$(PREFIX)/bin/ternctl
	install -D -m 0755 scripts/ternd-tls-certs $(DESTDIR)$(PREFIX)/bin/ternd-tls-certs
	install -D -m 0644 docs/man/ternctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/ternctl.1
	install -D -m 0644 docs/man/ternd.8 $(DESTDIR)$(PREFIX)/share/man/man8/ternd.8
	install -D -m 0644 scripts/completion/ternctl.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/ternctl
	install -D -m 0644 scripts/completion/ternctl.fish \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/ternctl.fish
	install -D -m 0644 scripts/completion/_ternctl \
		$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_ternctl

clean:
	rm -rf build/obj build/asan build/unit build/kvm build/tern build/tern-static \
		build/ternd build/ternctl \
		build/libtern.a build/guests build/fuzz

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) build/obj/src/main.d \
	build/obj/src/ternd/main.d build/obj/src/ternctl/main.d \
	build/asan/obj/src/ternd/main.d build/asan/obj/src/ternctl/main.d \
	build/obj/src/static/microhttpd_without_gnutls.d
# The unit tests' header dependencies (each program's .d is written beside it).
-include $(UNIT_TESTS:%=build/unit/%.d) $(UNIT_TESTS:%=build/asan/unit/%.d) \
	$(UNIT_SHARED_OBJS:.o=.d) $(UNIT_SHARED_ASAN_OBJS:.o=.d)
-include $(FUZZ_OBJS:.o=.d) $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_TARGETS:%=build/fuzz/obj/fuzz/%.d)
