#!/usr/bin/python3
"""The stock Debian cloud kernel under tern, run inside the nested test host
(tests/run starts it there through testhost/run.sh): user space is reached,
vCPU count and memory size are what was asked, the clock is right, the serial
console works both ways, reboot ends tern with status 0, and both kernel
formats (bzImage, vmlinux through PVH) boot. Debian's generic kernel of the
same release, built with CONFIG_X86_MPPARSE, finds its vCPUs and the IOAPIC
in tern's MP table with acpi=off."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
import guestlib  # noqa: E402


@test
def bzimage_reaches_user_space_and_console_works_both_ways():
    with guestlib.Guest(cpus=2, memory="256M") as guest:
        # A line typed on the serial console reaches the shell and its
        # output comes back: the arithmetic proves the shell ran it.
        assert guest.shell("echo $((6 * 7))") == "42"
        assert "guest boot marker after" in guest.transcript()
        check_vcpu_report(guest)
        status = guest.reboot()
    assert status == 0, f"tern exited with {status} after reboot"


def check_vcpu_report(guest):
    """SIGUSR2 makes tern log each vCPU's report, and guestlib (which prints
    it for a failed test) names the kernel functions in it: the chain a
    stalled guest's diagnosis depends on, checked on a healthy one."""
    guest.child.kill(signal.SIGUSR2)
    # Each vCPU's report ends with its own line: the stack it shows may be
    # shorter (a vCPU in an interrupt handler, near its stack's top).
    for _ in range(2):
        guest.child.expect(r"vCPU \d: report ends", timeout=30)
    names = guestlib.vcpu_report_symbols(guest.transcript(), guest.kernel_text)
    for cpu in (0, 1):
        assert any(re.match(rf"vCPU {cpu} \S+ at \w+\+0x[0-9a-f]+$", line) for line in names), \
            (guest.kernel_text, names)
    assert any(re.match(r"vCPU \d stack\+0x[0-9a-f]+: \w+\+0x", line) for line in names), names
    assert guest.shell("echo still here") == "still here"


@test
def guest_clock_is_within_5_seconds_of_the_host():
    with guestlib.Guest(cpus=1, memory="256M") as guest:
        guest_time = int(guest.shell("date +%s"))
        host_time = time.time()
        assert abs(guest_time - host_time) < 5, (guest_time, host_time)
        assert guest.reboot() == 0


def check_nproc(cpus):
    with guestlib.Guest(cpus=cpus, memory="256M") as guest:
        assert guest.shell("nproc") == str(cpus)
        assert guest.reboot() == 0


@test
def nproc_is_1_with_one_vcpu():
    check_nproc(1)


@test
def nproc_is_2_with_two_vcpus():
    check_nproc(2)


@test
def nproc_is_4_with_four_vcpus():
    check_nproc(4)


def mem_total_kib(guest):
    line = guest.shell("grep MemTotal /proc/meminfo")
    return int(re.search(r"(\d+)\s*kB", line).group(1))


# tern hides the top of conventional memory (0x9f000-0xfffff: EBDA, VGA and
# BIOS areas, where the ACPI tables live) from the RAM it gives the guest.
HIDDEN_LOW_BYTES = 0x100000 - 0x9f000


def firmware_ram_bytes(guest):
    """The RAM the firmware map (e820) handed to the kernel, summed from
    /sys/firmware/memmap, which keeps the map as booted."""
    out = guest.shell("for d in /sys/firmware/memmap/*; do "
                      "[ \"$(cat $d/type)\" = 'System RAM' ] && "
                      "echo $(cat $d/start) $(cat $d/end); done")
    total = 0
    for line in out.splitlines():
        start, end = (int(x, 16) for x in line.split())
        total += end - start + 1
    return total


def check_memory(size, mib):
    with guestlib.Guest(cpus=1, memory=size) as guest:
        assert firmware_ram_bytes(guest) == mib * 2**20 - HIDDEN_LOW_BYTES
        total = mem_total_kib(guest) / 1024
        # MemTotal is RAM less what the kernel keeps for itself (its image,
        # page structs, crash and DMA reservations): on a 256 MiB guest
        # about 15%, less on bigger ones.
        assert 0.80 * mib < total <= mib, f"MemTotal {total:.0f} MiB for {size}"
        assert guest.reboot() == 0


@test
def mem_total_matches_256_mib():
    check_memory("256M", 256)


@test
def mem_total_matches_5_gib_across_the_mmio_hole():
    check_memory("5G", 5 * 1024)


@test
def vmlinux_boots_through_pvh():
    with guestlib.Guest(cpus=2, memory="256M", kernel=guestlib.paths()["GUEST_VMLINUX"]) as guest:
        assert guest.shell("echo pvh-ok") == "pvh-ok"
        assert guest.shell("nproc") == "2"
        assert guest.reboot() == 0


@test
def acpi_tables_are_found_and_poweroff_exits_zero():
    with guestlib.Guest(cpus=2, memory="256M") as guest:
        tables = guest.shell("ls /sys/firmware/acpi/tables").split()
        for name in ("APIC", "DSDT", "FACP", "MCFG"):
            assert name in tables, f"no {name} table in {tables}"
        assert "RSDP was not found" not in guest.transcript()
        assert guest.exit_with("poweroff -f") == 0


@test
def acpi_off_generic_kernel_finds_vcpus_and_ioapic_in_the_mp_table():
    """Kata's acpi=off (tests/guest/test_firecracker_clients.py) with a
    kernel that reads the MP table, as kernels built for Firecracker do:
    src/arch/x86/mptable.c's processors and IOAPIC are what it runs on.
    The cloud kernel lacks CONFIG_X86_MPPARSE; the generic one of the same
    release has it (testhost/fetch-generic-kernel.sh). The test initramfs's
    modules are the cloud kernel's: none is loaded."""
    kernel = guestlib.paths()["GUEST_MPPARSE_BZIMAGE"]
    with guestlib.Guest(cpus=2, memory="256M", kernel=kernel,
                        cmdline="console=ttyS0 reboot=k quiet acpi=off") as guest:
        release = guest.shell("uname -r")
        assert release.endswith("-amd64") and "cloud" not in release, release
        assert "acpi=off" in guest.shell("cat /proc/cmdline")
        # No ACPI: what the kernel knows of its CPUs and interrupt
        # controllers comes from the MP table.
        assert guest.shell("[ -e /sys/firmware/acpi ] && echo acpi || echo none") == "none"
        log = guest.shell("dmesg | grep -E 'MP-table|MultiProc|IOAPIC|CPUs'")
        assert re.search(r"found SMP MP-table at \[mem 0x0009fc00-", log), log
        assert "Intel MultiProcessor Specification v1.4" in log, log
        assert re.search(r"IOAPIC\[0\]: apic_id \d+, version \d+, "
                         r"address 0xfec00000, GSI 0-23", log), log
        assert "Brought up 1 node, 2 CPUs" in log, log
        assert guest.shell("grep -c ^processor /proc/cpuinfo") == "2"
        # The console's UART interrupt arrives through the IOAPIC, wired
        # by the table's interrupt entries (ISA IRQ 4 on pin 4).
        serial = guest.shell("grep ttyS /proc/interrupts")
        assert re.search(r"^\s*4:.*IO-APIC\s+4-edge\s+ttyS0", serial, re.M), serial
        assert guest.reboot() == 0


@test
def minimal_cpu_template_hides_avx_and_cx16():
    with guestlib.Guest(cpus=1, memory="256M", extra=["--cpu-template", "minimal"]) as guest:
        flags = guest.shell("grep -m1 ^flags /proc/cpuinfo").split()
        for hidden in ("avx", "avx2", "cx16", "xsave"):
            assert hidden not in flags, f"{hidden} visible with the minimal template"
        assert "sse2" in flags
        assert guest.reboot() == 0


@test
def reboot_mode_guest_exits_zero_without_a_terminal():
    """The benchmark's way of booting: no tty, output to a file."""
    log = f"/tmp/tern-guest-{os.getpid()}.log"
    p = guestlib.paths()
    result = subprocess.run(
        [guestlib.TERN, "run", "--kernel", p["GUEST_BZIMAGE"], "--initrd", p["GUEST_INITRAMFS"],
         "--cmdline", "console=ttyS0 reboot=k quiet tern.mode=reboot", "--serial", f"file:{log}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    with open(log, errors="replace") as f:
        console = f.read()
    os.unlink(log)
    assert result.returncode == 0, result.stderr
    assert "TERN-GUEST-READY" in console


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
