#!/usr/bin/python3
"""A Linux guest's reboot under every method Linux has (reboot= on its
command line), inside the nested test host: each ends tern with status 0,
through the reset path the method takes (tern logs which), as it ends QEMU.
Without reboot=, Linux on tern's hardware-reduced ACPI picks EFI, has none,
and jumps to the BIOS reset vector, where tern's reset-vector ROM answers;
before issue 13 that hung tern for ever. Also: virtio-mmio (pci=off), and
--on-reboot restart, where the same tern boots the guest again (two vCPUs,
a disk whose contents stay) until it powers off."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
import guestlib  # noqa: E402

# What tern logs for each reset path (src/vm/vm.c, src/cpu/vcpu.c).
RESET_VECTOR = "guest reset: jump to the reset vector"
ACPI = "guest reset: ACPI reset register"
KEYBOARD = "guest reset: i8042 reset line"
PORT_CF9 = "guest reset: reset control register (port 0xcf9)"
TRIPLE_FAULT = "the guest triple-faulted"


def resets_logged(transcript):
    return re.findall(r"guest reset: [^\r\n]*|the guest triple-faulted", transcript)


def reboot_ends_tern(method, expected_path, extra=(), cmdline_extra=""):
    """Boots with reboot=method (None: no reboot= at all), reboots with
    `reboot -f`, and checks status 0 and the reset path taken."""
    cmdline = "console=ttyS0 quiet" + (f" reboot={method}" if method else "") + cmdline_extra
    # The guest is at its shell prompt (Guest waits for it): reboot at
    # once; a command typed before the prompt's redraw can come back
    # echoed twice on the emulated test host and confuse shell().
    with guestlib.Guest(cpus=1, memory="256M", cmdline=cmdline, extra=list(extra)) as guest:
        status = guest.reboot()
        transcript = guest.transcript()
    assert status == 0, f"reboot={method}: tern exited with {status}"
    assert expected_path in transcript, \
        f"reboot={method}: expected '{expected_path}', tern logged {resets_logged(transcript)}"


@test
def default_reboot_jumps_to_the_reset_vector_and_exits_zero():
    reboot_ends_tern(None, RESET_VECTOR)


@test
def reboot_a_uses_the_acpi_reset_register():
    reboot_ends_tern("a", ACPI)


@test
def reboot_k_uses_the_keyboard_controller():
    reboot_ends_tern("k", KEYBOARD)


@test
def reboot_t_triple_faults_and_exits_zero():
    reboot_ends_tern("t", TRIPLE_FAULT)


@test
def reboot_b_jumps_to_the_bios_reset_vector():
    reboot_ends_tern("b", RESET_VECTOR)


@test
def reboot_pci_uses_port_cf9():
    reboot_ends_tern("pci", PORT_CF9)


@test
def reboot_efi_without_efi_falls_back_to_the_reset_vector():
    reboot_ends_tern("efi", RESET_VECTOR)


@test
def default_reboot_with_virtio_mmio_exits_zero():
    reboot_ends_tern(None, RESET_VECTOR, extra=["--rng"], cmdline_extra=" pci=off")


IMAGE_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"


def load_disk(guest):
    guest.shell("modprobe virtio_pci; modprobe virtio_blk")
    out = guest.shell("for i in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done; "
                      "ls /dev/ | grep '^vd'")
    assert "vda" in out.split(), f"/dev/vda missing; /dev has {out!r}"


@test
def on_reboot_restart_boots_again_until_poweroff():
    img = os.path.join(IMAGE_DIR, f"tern-reboot-{os.getpid()}.img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    try:
        extra = ["--on-reboot", "restart", "--disk", f"path={img}", "--rng"]
        with guestlib.Guest(cpus=2, memory="256M", cmdline="console=ttyS0 quiet",
                            extra=extra) as guest:
            load_disk(guest)
            guest.shell("echo kept-across-reset | dd of=/dev/vda bs=512 count=1 conv=sync,fsync"
                        " 2>/dev/null")
            guest.child.sendline("reboot -f")
            # The same tern boots the guest again, to its shell prompt.
            guest.child.expect("VM restarted after a guest reset")
            guest.child.expect("TERN-GUEST-READY")
            guest.child.expect("# ")
            guest.shell("stty cols 4000")
            assert guest.shell("nproc") == "2"
            load_disk(guest)
            # echo: the marker guestlib waits for must start a line.
            assert guest.shell("dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 17; echo") \
                == "kept-across-reset"
            status = guest.exit_with("poweroff -f")
            transcript = guest.transcript()
        assert status == 0, f"tern exited with {status} after poweroff"
        assert RESET_VECTOR in transcript, resets_logged(transcript)
        assert transcript.count("TERN-GUEST-READY") == 2
    finally:
        os.unlink(img)


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
