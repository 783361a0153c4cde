#!/usr/bin/python3
"""ternd end to end with Linux guests (the Debian kernel and the busybox
initramfs), as a user of virsh would drive it: three VMs under one ternd in
a network namespace of its own. "store" has a volume from the pool, "web"
is on the default NAT+DHCP network with a balloon, "client" is on the same
network and reaches web by the address DHCP gave it. Then: list, a console
round trip through a terminal that reads and writes the volume, setmem,
snapshot and revert, kill -9 of ternd while all three run (listed as
running after it, console and API working), autostart at the next ternd
start, a shutdown through the ACPI power button that the guest obeys, and
nothing left behind. Then a Linux guest moved live between two ternds, each
in a network namespace of its own (ternd_host.py's pair of hosts):
what it kept in RAM and its console are there on the destination.

tests/run runs it once, against the plain build (TERND_PLAIN_ONLY): it
boots Linux guests for minutes, and every ternd path it drives runs under
AddressSanitizer in the suite's other files (on the tiny guests)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test_with_timeout  # noqa: E402
from console_client import DETACH, Console  # noqa: E402
from ternd_host import (main, Host, console_log, guest_paths,  # noqa: E402
                        migrate, netns, network_tools_missing, report_quiet_guest,
                        setup as host_setup,
                        sh, two_hosts, wait_console, wait_until)

SUBNET = "192.168.122.0/24"
MEM_MIB = 192
VOLUME_MIB = 8
# The guest's init (guest/init.sh) reads tern.* words: tern.modules loads
# drivers, tern.mode=dhcp configures eth0 and pings tern.ping's addresses,
# tern.power=button powers off on the ACPI power button (busybox acpid).
BOOT_ARGS = "console=ttyS0 reboot=k quiet"


def define_linux(h, name, boot_args, **sections):
    kernel, initrd = guest_paths()
    doc = {"boot-source": {"kernel_image_path": kernel, "initrd_path": initrd,
                           "boot_args": f"{BOOT_ARGS} {boot_args}"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB}}
    doc.update(sections)
    path = os.path.join(h.dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    h.ok("define", name, path)


def states(h):
    return {name: vm["state"] for name, vm in h.listing("--all").items()}


def shell(h, name, command, answer, timeout=60):
    """One command through `ternctl console` on a terminal, and its answer;
    the console detaches with Ctrl-] and the VM runs on."""
    c = Console(h, name)
    try:
        try:
            c.send(b"\r")
            c.expect(b"# ", timeout=timeout)
            c.out = b""
            c.send(command.encode() + b"\r")
            c.expect(answer.encode(), timeout=timeout)
        except AssertionError:
            report_quiet_guest(h, name)
            raise
        c.send(DETACH)
        status, err = c.wait()
        assert status == 0, err
    finally:
        c.close()


def ping_results(h, name, address):
    return console_log(h, name).count(f"TERN-PING {address} ok")


@test_with_timeout(1100)
def three_linux_vms_under_one_ternd_from_define_to_shutdown():
    with netns() as ns, Host() as h:
        h.start(wrapper=ns)
        h.ok("net-define", "default", "--bridge", "ternbr0", "--subnet", SUBNET, "--nat",
             "--dhcp")
        h.ok("net-start", "default")
        h.ok("vol-create", "data", f"{VOLUME_MIB}M")
        volume = json.loads(h.ok("vol-list", "--json"))["volumes"][0]["path"]
        nic = [{"iface_id": "eth0", "network": "default"}]

        define_linux(h, "store", "tern.power=button tern.modules=virtio_pci,virtio_blk",
                     drives=[{"drive_id": "data", "is_root_device": False, "volume": "data"}])
        define_linux(h, "web", "tern.mode=dhcp tern.modules=virtio_pci,virtio_balloon",
                     **{"network-interfaces": nic,
                        "balloon": {"amount_mib": 0, "deflate_on_oom": False,
                                    "stats_polling_interval_s": 1}})
        h.ok("start", "store")
        h.ok("start", "web")
        web_ip = wait_console(h, "web", r"TERN-DHCP (192\.168\.122\.\d+)\r?\n").group(1)
        define_linux(h, "client", f"tern.mode=dhcp tern.ping={web_ip}",
                     **{"network-interfaces": nic})
        h.ok("start", "client")
        wait_console(h, "client", rf"TERN-PING {re.escape(web_ip)} (ok|failed)")
        assert ping_results(h, "client", web_ip) == 1, "client cannot reach web"

        # list: one line per VM, as virsh's.
        assert states(h) == {"store": "running", "web": "running", "client": "running"}
        table = h.ok("list").splitlines()
        assert table[0].split() == ["Name", "State", "vCPUs", "Memory"], table
        rows = sorted(line.split() for line in table[2:] if line.strip())
        assert rows == [[name, "running", "1", str(MEM_MIB), "MiB"]
                        for name in ("client", "store", "web")], table

        # A console round trip that reads the volume's size and writes it.
        shell(h, "store", "cat /sys/block/vda/size", str(VOLUME_MIB * 2048))
        shell(h, "store", "echo tern-e2e > /dev/vda && sync && echo written-$((6*7))",
              "written-42")
        with open(volume, "rb") as f:
            assert f.read(9) == b"tern-e2e\n", "the guest's write is not in the volume"

        # setmem: the balloon takes 64 MiB back and the guest's driver gives it.
        h.ok("setmem", "web", f"{MEM_MIB - 64}M")
        wait_until(lambda: (h.info("web")["balloon"] or {}).get("actual_mib") == 64,
                   timeout=120, what="the balloon's actual size reaches 64 MiB")
        assert h.info("web")["balloon"]["guest_memory_mib"] == MEM_MIB - 64

        # Snapshot and revert: the guest's memory goes back, the volume not.
        shell(h, "store", "echo one > /tmp/state && echo saved-$((6*7))", "saved-42")
        h.ok("snapshot", "create", "store", "s1")
        shell(h, "store", "echo two > /tmp/state && echo saved-$((6*7))", "saved-42")
        h.ok("snapshot", "revert", "store", "s1")
        assert states(h)["store"] == "running"
        shell(h, "store", "echo state-$(cat /tmp/state)", "state-one")

        # kill -9: the VMs run on, and the next ternd finds them running.
        pids = sorted(h.tern_pids())
        assert len(pids) == 3, pids
        h.kill9()
        assert sorted(h.tern_pids()) == pids
        h.start(wrapper=ns)
        assert states(h) == {"store": "running", "web": "running", "client": "running"}
        shell(h, "store", "echo alive-$((6*7))", "alive-42")
        assert h.info("web")["balloon"]["target_mib"] == 64

        # autostart: a stopped VM so marked starts with the next ternd.
        h.ok("autostart", "client")
        h.ok("destroy", "client")
        assert states(h)["client"] == "shut off"
        h.stop()
        h.start(wrapper=ns)
        assert states(h)["client"] == "running"
        wait_until(lambda: ping_results(h, "client", web_ip) == 2, timeout=240,
                   what="the autostarted client reaches web again")

        # shutdown: the power button, and the guest powers itself off.
        h.ok("shutdown", "store")
        wait_until(lambda: states(h)["store"] == "shut off", timeout=120,
                   what="store shut off after the power button")
        assert "tern guest: power button: powering off" in console_log(h, "store")

        for name in ("web", "client"):
            h.ok("destroy", name)
        h.ok("snapshot", "delete", "store", "s1")
        for name in ("store", "web", "client"):
            h.ok("undefine", name)
        h.ok("vol-delete", "data")
        h.ok("net-destroy", "default")
        assert not h.tern_pids()
        taps = [entry["ifname"] for entry in json.loads(sh(*ns, "ip", "-j", "link").stdout)
                if entry["ifname"].startswith("tn")]
        assert not taps, taps
        h.stop()


@test_with_timeout(900)
def a_linux_guest_moves_between_two_ternds_with_its_memory_and_console():
    with two_hosts() as (src, dst):
        define_linux(src, "mover", "")
        src.ok("start", "mover")
        wait_console(src, "mover", r"TERN-GUEST-READY")
        shell(src, "mover", "echo moved > /tmp/mark && echo saved-$((6*7))", "saved-42")
        src_pid = src.info("mover")["pid"]

        out = migrate(src, dst, "mover", check=0).stdout
        assert "VM 'mover' migrated to" in out, out
        assert src.info("mover")["state"] == "shut off"
        wait_until(lambda: not os.path.exists(f"/proc/{src_pid}"), what="source tern gone")
        assert dst.info("mover")["state"] == "running"

        # The same guest, not a new boot: its tmpfs file is there, and the
        # destination's console (ternd's own connection to the new tern)
        # carries a round trip. The answer is not in the typed command.
        shell(dst, "mover", "echo $(cat /tmp/mark)-$((6*7))", "moved-42")
        assert "TERN-GUEST-READY" not in console_log(dst, "mover"), \
            "the destination's console shows a boot: the guest started again"
        dst.ok("destroy", "mover")
        dst.ok("undefine", "mover")
        src.ok("undefine", "mover")
        assert not dst.tern_pids() and not src.tern_pids()
        src.stop()
        dst.stop()


def setup():
    reason = host_setup()
    if reason:
        return reason
    kernel, initrd = guest_paths()
    for path in (kernel, initrd):
        if not os.path.exists(path):
            return f"{path} is missing: guest/build.sh"
    return network_tools_missing()


if __name__ == "__main__":
    main(setup)
