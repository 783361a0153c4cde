#!/usr/bin/python3
"""ternctl migrate: a running VM moves, live, from one ternd to another.
Two ternd, each in a network namespace of its own that this test creates
(joined by a veth pair, 10.77.0.1 and 10.77.0.2) and deletes; ternctl
reaches both through their Unix sockets and drives them. The guest counts
in RAM (count32): a snapshot on the source before and on the destination
after shows the count went on from where it was (a new boot would start
again from 0). Then the refusals, each of which leaves both sides as they
were: a VM that is not running, a name the destination has already
(running, or defined and shut off), an unreachable destination, a listen
address that is not the destination's; and a migration that
fails after both sides agreed (the source's key is not the destination's):
the guest runs on at the source, the destination drops what it made.
Jailed VMs (as root) migrate between two jailing ternds and back.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test_in_builds_where, test_with_timeout  # noqa: E402
from ternd_host import (main, ROOT, setup as host_setup, wait_until,  # noqa: E402
                        SRC_IP, DST_IP, two_hosts, migrate)

# Counts in RAM at 0x70000, "CNT!" beside it (tests/kvm/guests/count32.S).
COUNTING_GUEST = os.path.join(ROOT, "build/guests/count32-pvh.elf")
COUNTER = 0x70000


def state(h, name):
    return h.listing("--all").get(name, {}).get("state")


def events_of(h, name):
    return [(e["kind"], e["reason"]) for e in h.events() if e.get("name") == name]


def psk_file(h, name):
    return os.path.join(h.state, "vms", name, "migration.psk")


def count_in(h, vm, snap):
    """The guest's count in the snapshot's memory file (guest physical
    address = file offset)."""
    with open(os.path.join(h.state, "vms", vm, "snapshots", snap, "mem"), "rb") as f:
        f.seek(COUNTER)
        count, marker = struct.unpack("<II", f.read(8))
    assert marker == 0x21544E43, f"no CNT! marker at {COUNTER:#x}: the layout changed"
    return count


def untouched(src, dst, name, src_state, dst_state, src_events, dst_events):
    """Both sides as they were before a refused migration."""
    assert state(src, name) == src_state, (state(src, name), src_state)
    assert state(dst, name) == dst_state, (state(dst, name), dst_state)
    assert len(src.events()) == src_events, src.events()[src_events:]
    assert len(dst.events()) == dst_events, dst.events()[dst_events:]
    assert not os.path.exists(psk_file(dst, name))
    assert not os.path.exists(psk_file(src, name))


@test_with_timeout(600)
def a_running_vm_moves_and_its_guest_runs_on():
    with two_hosts() as (src, dst):
        src.define("counter", kernel=COUNTING_GUEST)
        src.ok("start", "counter")
        src_pid = src.info("counter")["pid"]
        time.sleep(3)
        src.ok("snapshot-create", "counter", "before")
        before = count_in(src, "counter", "before")
        assert before > 0, before

        out = migrate(src, dst, "counter", check=0).stdout
        assert "VM 'counter' migrated to" in out, out

        # The source: shut off, definition kept, its tern gone.
        info = src.info("counter")
        assert info["state"] == "shut off", info
        assert info["reason"].startswith(f"migrated to tcp:{DST_IP}:"), info
        assert "counter" not in src.listing()  # list without --all: active VMs only
        wait_until(lambda: not os.path.exists(f"/proc/{src_pid}"), what="source tern gone")
        # The destination: running, under ternctl list and info alike.
        assert dst.listing()["counter"]["state"] == "running"
        info = dst.info("counter")
        assert info["state"] == "running" and info["reason"] == "migrated in", info
        assert "running" in dst.ok("list") and "shut off" in src.ok("list", "--all")
        assert not os.path.exists(psk_file(src, "counter"))
        assert not os.path.exists(psk_file(dst, "counter"))

        # The guest went on counting from where it was on the source.
        dst.ok("snapshot-create", "counter", "after")
        after = count_in(dst, "counter", "after")
        assert after > before, (before, after)
        time.sleep(1)
        dst.ok("snapshot-create", "counter", "later")
        assert count_in(dst, "counter", "later") > after

        kinds = [k for k, _ in events_of(src, "counter")]
        assert kinds[-2:] == ["migrating", "migrated"], kinds
        kinds = [k for k, _ in events_of(dst, "counter")]
        assert kinds == ["defined", "incoming", "migrated-in", "snapshot-created",
                         "snapshot-created"], kinds

        # Back again, with --undefine-source: the first host has the
        # name (shut off, its own): refused until it is undefined.
        counts = len(src.events()), len(dst.events())
        line = dst.fails("migrate", "counter", src.sock, "--listen-address", SRC_IP,
                         words=("has a VM named 'counter' already",))
        assert "nothing was changed" in line, line
        untouched(dst, src, "counter", "running", "shut off", counts[1], counts[0])
        src.ok("undefine", "counter", "--snapshots-too")
        # Its migration's log went with it: nothing of the VM is left.
        assert not os.path.exists(os.path.join(src.state, "vms", "counter"))
        assert "cannot remove" not in src.stderr(), src.stderr()
        for snap in ("after", "later"):
            dst.ok("snapshot-delete", "counter", snap)
        dst.ok("migrate", "counter", src.sock, "--listen-address", SRC_IP,
               "--undefine-source")
        assert "counter" not in dst.listing("--all")
        assert not os.path.exists(os.path.join(dst.state, "vms", "counter"))
        assert state(src, "counter") == "running"
        src.ok("destroy", "counter")
        src.stop()
        dst.stop()


@test_with_timeout(600)
def refusals_leave_both_sides_as_they_were():
    with two_hosts() as (src, dst):
        src.define("idle")
        counts = len(src.events()), len(dst.events())
        # Not running.
        src.fails("migrate", "idle", dst.sock, "--listen-address", DST_IP,
                         words=("shut off", "only a running VM migrates"))
        untouched(src, dst, "idle", "shut off", None, *counts)
        # No such VM.
        src.fails("migrate", "nothing", dst.sock, "--listen-address", DST_IP,
                  words=("no VM named 'nothing'",))

        # The destination runs that name already.
        src.ok("start", "idle")
        dst.define("idle")
        dst.ok("start", "idle")
        counts = len(src.events()), len(dst.events())
        src.fails("migrate", "idle", dst.sock, "--listen-address", DST_IP,
                  words=("running on the destination already",))
        untouched(src, dst, "idle", "running", "running", *counts)
        dst.ok("destroy", "idle")
        dst.ok("undefine", "idle")

        # An unreachable destination; an address that is not its own.
        counts = len(src.events()), len(dst.events())
        src.fails("migrate", "idle", os.path.join(dst.dir, "no.sock"), "--listen-address", DST_IP,
                  words=("cannot reach ternd",))
        src.fails("migrate", "idle", dst.sock, "--listen-address", SRC_IP,
                  words=("not an address of the destination host",))
        untouched(src, dst, "idle", "running", None, *counts)

        # Usage errors, before anything is asked of either side.
        src.fails("migrate", "idle", dst.sock, status=2,
                         words=("--listen-address",))
        src.fails("migrate", "idle", dst.sock, "--listen-address", "dst.example",
                  status=2, words=("not an IPv4 or IPv6 address",))
        src.fails("migrate", "idle", dst.sock, "--listen-address", DST_IP, "--port", "70000",
                  status=2, words=("--port",))
        src.fails("list", "--listen-address", DST_IP, status=2, words=("belong to migrate",))
        untouched(src, dst, "idle", "running", None, *counts)

        # While migrating or incoming, the VM takes no other action but
        # destroy (the API directly: ternctl would finish the migration).
        status, reply = dst.api().request(
            "POST", "/v1/vms/idle/incoming",
            {"definition": src.info("idle")["config"], "psk": "ab" * 32,
             "listen_address": DST_IP})
        assert status == 201 and reply["state"] == "incoming", (status, reply)
        assert reply["migration_address"].startswith(f"tcp:{DST_IP}:"), reply
        assert os.stat(psk_file(dst, "idle")).st_mode & 0o777 == 0o600
        assert "incoming" in dst.ok("list")
        dst.api().fault("POST", "/v1/vms/idle/pause", status=409, words=("incoming",))
        dst.api().fault("POST", "/v1/vms/idle/snapshots", {"name": "s"}, status=409,
                        words=("migration",))
        dst.api().fault("POST", "/v1/vms/idle/incoming",
                        {"definition": {}, "psk": "ab" * 32, "listen_address": DST_IP},
                        status=409, words=("incoming on the destination already",))
        for body, words in (({"psk": "ab"}, ("definition",)),
                            ({"definition": {}, "psk": "xyz", "listen_address": DST_IP},
                             ("hex digits",)),
                            ({"definition": {}, "psk": "ab" * 32, "listen_address": DST_IP,
                              "port": 70000}, ("port",)),
                            ({"definition": {}, "psk": "ab" * 32, "listen_address": DST_IP,
                              "extra": 1}, ("unknown field",))):
            dst.api().fault("POST", "/v1/vms/other/incoming", body, status=400, words=words)
        assert "other" not in dst.listing("--all")

        # A key the destination does not have: tern migrate fails, the
        # guest runs on at the source, and abandon drops the destination's
        # VM, which it defined.
        address = reply["migration_address"]
        pid = src.info("idle")["pid"]
        status, reply = src.api().request(
            "POST", "/v1/vms/idle/migrate", {"destination": address, "psk": "cd" * 32})
        assert status == 202 and reply["state"] == "migrating", (status, reply)
        wait_until(lambda: state(src, "idle") == "running", timeout=60, what="source back")
        info = src.info("idle")
        assert info["pid"] == pid and info["reason"].startswith("migration to "), info
        assert [k for k, _ in events_of(src, "idle")][-2:] == ["migrating", "migration-failed"]
        assert not os.path.exists(psk_file(src, "idle"))
        assert state(dst, "idle") == "incoming"
        dst.api().ok("DELETE", "/v1/vms/idle/incoming")
        assert "idle" not in dst.listing("--all")
        assert not dst.tern_pids()
        dst.api().fault("DELETE", "/v1/vms/idle/incoming", status=404)

        src.ok("destroy", "idle")
        src.stop()
        dst.stop()


def can_jail():
    return os.geteuid() == 0 and os.access(os.path.join(ROOT, "build/tern-static"), os.X_OK)


def jail(base):
    return ["--jail-uid-base", str(base), "--jail-tern", os.path.join(ROOT, "build/tern-static")]


def jailed_as(h, name):
    """The uid the VM's tern runs as, which must be its jail's."""
    pid = h.info(name)["pid"]
    with open(os.path.join(h.state, "vms", name, "jail-uid")) as f:
        uid = int(f.read())
    with open(f"/proc/{pid}/status") as f:
        line = [entry for entry in f.read().splitlines() if entry.startswith("Uid:")][0]
    assert line.split()[1:] == [str(uid)] * 4, line
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"tern-static"
    return pid, uid


@test_in_builds_where(can_jail)
def jailed_vms_migrate_between_jailing_ternds():
    # Different uid ranges: the two ternds share this machine's uids.
    with two_hosts(src_args=jail(320000), dst_args=jail(330000)) as (src, dst):
        src.define("counter", kernel=COUNTING_GUEST)
        src.ok("start", "counter")
        src_pid, src_uid = jailed_as(src, "counter")
        time.sleep(2)
        src.ok("snapshot-create", "counter", "before")
        before = count_in(src, "counter", "before")

        # A jailed tern has no capabilities: no listener below 1024.
        counts = len(src.events()), len(dst.events())
        migrate(src, dst, "counter", "--port", "80", check=1)
        untouched(src, dst, "counter", "running", None, *counts)

        out = migrate(src, dst, "counter", check=0).stdout
        assert "VM 'counter' migrated to" in out, out
        assert state(src, "counter") == "shut off"
        wait_until(lambda: not os.path.exists(f"/proc/{src_pid}"), what="source tern gone")
        info = dst.info("counter")
        assert info["state"] == "running" and info["reason"] == "migrated in", info
        dst_pid, dst_uid = jailed_as(dst, "counter")
        assert 330000 <= dst_uid < 331000, dst_uid
        # The keys are gone, beside the VM and in its jail.
        assert not os.path.exists(psk_file(src, "counter"))
        assert not os.path.exists(psk_file(dst, "counter"))
        assert "migration.psk" not in os.listdir(f"/proc/{dst_pid}/root/")
        dst.ok("snapshot-create", "counter", "after")
        after = count_in(dst, "counter", "after")
        assert after > before, (before, after)

        # And back, jailed on both sides again (--undefine-source: the
        # destination's snapshot first, or the undefine is refused).
        src.ok("undefine", "counter", "--snapshots-too")
        dst.ok("snapshot-delete", "counter", "after")
        dst.ok("migrate", "counter", src.sock, "--listen-address", SRC_IP,
               "--undefine-source")
        assert "counter" not in dst.listing("--all")
        back_pid, back_uid = jailed_as(src, "counter")
        assert 320000 <= back_uid < 321000, back_uid
        src.ok("snapshot-create", "counter", "back")
        assert count_in(src, "counter", "back") > after
        src.ok("destroy", "counter")
        src.stop()
        dst.stop()


jailed_vms_migrate_between_jailing_ternds.tap_timeout = 600


def setup():
    reason = host_setup()
    if reason:
        return reason
    if not os.path.exists(COUNTING_GUEST):
        return f"{COUNTING_GUEST} is missing: make guests"
    if os.geteuid() != 0:
        return "network namespaces and veth pairs need root (the test host has it)"
    return None


if __name__ == "__main__":
    main(setup)
