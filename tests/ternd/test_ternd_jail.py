#!/usr/bin/python3
"""ternd --jail-uid-base: each VM's tern jailed (the static tern in a
chroot under STATE/jail, a mount namespace, a cgroup of its own, a uid and
gid of its own from the range, no capabilities), through its whole life
cycle, across kill -9 of ternd, and cleaned up after; a jailed VM's
snapshots (written in its jail, moved into the catalog, linked into the
next jail at a revert) with the guest's count checked after the revert.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern-static."""
import json
import os
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test, test_in_builds_where  # noqa: E402
from apiclient import Api  # noqa: E402
from ternd_host import (main, ROOT, TERN, TERND, Host, has_test_hooks, netns,  # noqa: E402
                        pid_alive, setup, wait_until)
import prom_text  # noqa: E402

BASE = 300000
TERN_STATIC = os.path.join(ROOT, "build/tern-static")
ARGS = ["--jail-uid-base", str(BASE), "--jail-tern", TERN_STATIC]


def jail_setup():
    why = setup()
    if why:
        return why
    if os.geteuid() != 0:
        return "jailing VMs needs root"
    if not os.access(TERN_STATIC, os.X_OK):
        return f"{TERN_STATIC} is missing: the build failed"
    return None


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)


def argv(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[:-1]


def cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


def cgroup_dirs(uid):
    """The VM's cgroup directories on the host (any hierarchy)."""
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] in ("cgroup", "cgroup2"):
                path = os.path.join(fields[1], "ternd", f"u{uid}")
                if os.path.isdir(path):
                    found.append(path)
    return found


def jail_dir(h, uid):
    return os.path.join(h.state, "jail", "tern-static", f"u{uid}")


def uid_of(h, name):
    with open(os.path.join(h.state, "vms", name, "jail-uid")) as f:
        return int(f.read())


def check_jailed(h, name, verb=b"run"):
    """The VM's tern runs jailed as its own uid; returns (pid, uid)."""
    info = h.info(name)
    pid, uid = info["pid"], uid_of(h, name)
    assert BASE <= uid < BASE + 1000, uid
    st = status(pid)
    assert st["Uid"].split() == [str(uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(uid)] * 4, st["Gid"]
    assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0, st
    assert st["NoNewPrivs"].strip() == "1"
    a = argv(pid)
    assert a[:2] == [b"tern-static", verb] and b"/run/api.sock" in a, a
    assert info["api_socket"] == os.path.join(jail_dir(h, uid), "root/run/api.sock")
    assert any(line.endswith(f"/ternd/u{uid}") for line in cgroup_of(pid).splitlines()), \
        cgroup_of(pid)
    # Its root is the jail: the host's directories are not there.
    root = os.listdir(f"/proc/{pid}/root/")
    assert "config.json" in root and "kernel" in root and "tmp" not in root, root
    return pid, uid


@test
def jailed_vms_run_as_their_own_uid_through_their_life_cycle():
    with Host() as h:
        h.start(args=ARGS)
        h.ok("vol-create", "disk", "1M")
        h.define("a")
        h.define("b", drives=[{"drive_id": "d", "is_root_device": False, "volume": "disk"}])
        h.ok("start", "a")
        h.ok("start", "b")
        pa, ua = check_jailed(h, "a")
        pb, ub = check_jailed(h, "b")
        assert ua != ub
        cgroups = cgroup_dirs(ua)
        assert cgroups, "no cgroup directory for the VM"
        # A writable volume is the VM's uid's while it runs.
        volume = os.path.join(h.state, "pools", "default", "disk")
        assert os.stat(volume).st_uid == ub
        assert Api(h.info("a")["api_socket"]).get("/")[1]["state"] == "Running"

        h.ok("pause", "a")
        assert Api(h.info("a")["api_socket"]).get("/")[1]["state"] == "Paused"
        assert h.listing()["a"]["state"] == "paused"
        h.ok("resume", "a")
        assert Api(h.info("a")["api_socket"]).get("/")[1]["state"] == "Running"
        # The metrics reach jailed VMs through their sockets in the jail.
        families = prom_text.parse(h.ok("metrics"))
        for name in ("a", "b"):
            assert prom_text.value(families, "ternd_vm_scrape_up", vm=name) == 1

        h.ok("destroy", "a")
        h.ok("destroy", "b")
        wait_until(lambda: not pid_alive(pa) and not pid_alive(pb), what="terns gone")
        for uid in (ua, ub):
            assert not os.path.exists(jail_dir(h, uid)), os.listdir(jail_dir(h, uid))
        assert not [c for c in cgroups if os.path.exists(c)], "the cgroup was left"
        assert os.stat(volume).st_uid == 0, "the volume was not given back"
        assert os.path.exists(volume), "cleaning the jail removed the volume"
        assert os.path.getsize(os.path.join(h.state, "vms", "a", "console.log")) >= 0
        assert os.stat(os.path.join(h.state, "vms", "a", "console.log")).st_uid == 0

        # The same uid at the next start.
        h.ok("start", "a")
        assert check_jailed(h, "a")[1] == ua
        h.ok("destroy", "a")
        # Undefined, its uid is free and its directory gone.
        h.ok("undefine", "a")
        assert not os.path.exists(os.path.join(h.state, "vms", "a"))
        h.define("c")
        h.ok("start", "c")
        assert check_jailed(h, "c")[1] == ua
        h.ok("destroy", "c")
        h.stop()


@test
def kill9_of_ternd_and_reattach_to_jailed_vms():
    with Host() as h:
        h.start(args=ARGS)
        for name in ("run", "paused", "dies"):
            h.define(name)
            h.ok("start", name)
        h.ok("pause", "paused")
        pids = {name: check_jailed(h, name)[0] for name in ("run", "paused", "dies")}
        dies_uid = uid_of(h, "dies")
        h.kill9()
        os.kill(pids["dies"], signal.SIGKILL)
        wait_until(lambda: not pid_alive(pids["dies"]), what="dies gone")

        h.start(args=ARGS)
        vms = h.listing("--all")
        assert vms["run"]["state"] == "running" and vms["paused"]["state"] == "paused", vms
        assert vms["dies"]["state"] == "shut off", vms
        log = h.stderr()
        assert "re-attached to VM 'run'" in log and "re-attached to VM 'paused'" in log, log
        assert "VM 'dies'" in log and "stopped while ternd was not running" in log
        assert not os.path.exists(jail_dir(h, dies_uid)), "the dead VM's jail was left"
        assert h.info("run")["pid"] == pids["run"]
        h.ok("resume", "paused")
        h.ok("destroy", "run")
        h.ok("destroy", "paused")
        wait_until(lambda: not pid_alive(pids["run"]) and not pid_alive(pids["paused"]),
                   what="terns gone")
        assert os.listdir(os.path.join(h.state, "jail", "tern-static")) == []
        h.stop()


def ip(ns, *args):
    return subprocess.run(ns + ["ip"] + list(args), capture_output=True, text=True,
                          check=True, timeout=60).stdout


@test
def a_jailed_vm_attaches_to_the_tap_ternd_made_for_it():
    with netns() as ns, Host() as h:
        h.start(args=ARGS, wrapper=ns)
        h.ok("net-define", "lan", "--bridge", "ternbr9", "--subnet", "10.9.0.0/24")
        h.ok("net-start", "lan")
        h.define("n", **{"network-interfaces": [{"iface_id": "eth0", "network": "lan"}]})
        h.ok("start", "n")
        pid, uid = check_jailed(h, "n")
        taps = [entry["ifname"] for entry in json.loads(ip(ns, "-j", "link", "show"))
                if entry["ifname"].startswith("tn")]
        assert len(taps) == 1, taps
        details = ip(ns, "-d", "link", "show", taps[0])
        assert f"user {uid}" in details and f"group {uid}" in details, details
        h.ok("destroy", "n")
        wait_until(lambda: not pid_alive(pid), what="tern gone")
        assert not [entry for entry in json.loads(ip(ns, "-j", "link", "show"))
                    if entry["ifname"].startswith("tn")]
        h.stop()


@test
def jailing_needs_a_static_tern_and_refuses_what_a_jail_cannot_hold():
    with Host() as h:
        r = subprocess.run([TERND, "--foreground", "--state-dir",
                            h.state, "--socket", h.sock, "--jail-uid-base", "5",
                            "--jail-tern", TERN],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "statically linked" in r.stderr, r.stderr
        r = subprocess.run([TERND, "--jail-uid-base", "0"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r.stderr
        h.start(args=ARGS)
        h.define("v", vsock={"guest_cid": 3, "uds_path": os.path.join(h.dir, "v.sock")})
        h.fails("start", "v", words=["jailed VM cannot have a vsock"])
        assert h.listing("--all")["v"]["state"] == "shut off"
        assert os.listdir(os.path.join(h.state, "jail")) in ([], ["tern-static"])
        h.stop()


# Counts in RAM at 0x70000, "CNT!" beside it (tests/kvm/guests/count32.S).
COUNTING_GUEST = os.path.join(ROOT, "build/guests/count32-pvh.elf")
COUNTER = 0x70000


def snap_dir(h, vm, snap=""):
    return os.path.join(h.state, "vms", vm, "snapshots", snap)


def count_in(h, vm, snap):
    """The guest's count in the snapshot's memory file (guest physical
    address = file offset)."""
    with open(os.path.join(snap_dir(h, vm, snap), "mem"), "rb") as f:
        f.seek(COUNTER)
        count, marker = struct.unpack("<II", f.read(8))
    assert marker == 0x21544E43, f"no CNT! marker at {COUNTER:#x}: the layout changed"
    return count


def check_catalog_files(h, vm, snap, group=0, links=1):
    """The snapshot's files are in the catalog, root's, never the jail's
    uid's (group: the VM's gid once a revert linked them into a jail;
    links 2 while that jail runs)."""
    for name in ("state", "mem"):
        st = os.lstat(os.path.join(snap_dir(h, vm, snap), name))
        assert (st.st_uid, st.st_gid, st.st_nlink) == (0, group, links), (name, st)
        assert st.st_mode & 0o777 == (0o640 if group else 0o600), (name, oct(st.st_mode))


@test
def a_jailed_vm_s_snapshots_revert_with_the_guest_s_memory():
    with Host() as h:
        h.start(args=ARGS)
        # A writable volume: linked into each new jail, as at any start.
        h.ok("vol-create", "disk", "1M")
        volume = os.path.join(h.state, "pools", "default", "disk")
        h.define("counter", kernel=COUNTING_GUEST,
                 drives=[{"drive_id": "d", "is_root_device": False, "volume": "disk"}])
        h.ok("start", "counter")
        pid, uid = check_jailed(h, "counter")
        time.sleep(2)
        out = h.ok("snapshot-create", "counter", "a")
        assert "the VM was running" in out, out
        a = count_in(h, "counter", "a")
        check_catalog_files(h, "counter", "a")
        # Nothing of the snapshot stays in the jail, and the VM runs on.
        assert "snapshot" not in os.listdir(f"/proc/{pid}/root/")
        assert h.info("counter")["pid"] == pid
        time.sleep(3)
        h.ok("snapshot-create", "counter", "b")
        b = count_in(h, "counter", "b")
        assert b > a > 0, (a, b)

        # Back to a: a new jail (same uid) restores it, the count resumes
        # from a's (a new boot would start from 0).
        h.ok("snapshot-revert", "counter", "a")
        wait_until(lambda: not pid_alive(pid), what="the old tern gone")
        pid, again = check_jailed(h, "counter", verb=b"restore")
        assert again == uid, (uid, again)
        assert b"/snapshot-state" in argv(pid), argv(pid)
        check_catalog_files(h, "counter", "a", group=uid, links=2)
        assert os.stat(volume).st_uid == uid
        assert "drive0" in os.listdir(f"/proc/{pid}/root/")
        h.ok("snapshot-create", "counter", "c")
        c = count_in(h, "counter", "c")
        assert a < c < b, (a, c, b)

        # Paused: it reverts paused, the count as it was.
        h.ok("pause", "counter")
        h.ok("snapshot-create", "counter", "p")
        p = count_in(h, "counter", "p")
        h.ok("resume", "counter")
        time.sleep(1)
        h.ok("snapshot-revert", "counter", "p")
        assert h.info("counter")["state"] == "paused"
        pid, _ = check_jailed(h, "counter", verb=b"restore")
        assert b"--paused" in argv(pid), argv(pid)
        h.ok("snapshot-create", "counter", "p2")
        assert count_in(h, "counter", "p2") == p
        h.ok("resume", "counter")
        time.sleep(1)
        h.ok("snapshot-create", "counter", "p3")
        assert count_in(h, "counter", "p3") > p

        # Shut off: a revert starts it from the snapshot, in a jail.
        h.ok("destroy", "counter")
        wait_until(lambda: not os.path.exists(jail_dir(h, uid)), what="the jail removed")
        h.ok("snapshot-revert", "counter", "b")
        pid, _ = check_jailed(h, "counter", verb=b"restore")
        h.ok("snapshot-create", "counter", "d")
        assert count_in(h, "counter", "d") >= b
        h.ok("destroy", "counter")
        wait_until(lambda: not pid_alive(pid), what="tern gone")
        # The catalog keeps its files (the jail's links went with it).
        check_catalog_files(h, "counter", "a", group=uid)
        assert os.stat(volume).st_uid == 0, "the volume was not given back"
        assert len(json.loads(h.ok("snapshot-list", "counter", "--json"))["snapshots"]) == 7
        h.ok("undefine", "counter", "--snapshots-too")
        assert not os.path.exists(os.path.join(h.state, "vms", "counter"))
        h.stop()


# ternd's test hooks exist in the sanitizer build only (build/asan/ternd).
@test_in_builds_where(has_test_hooks)
def kill9_inside_a_jailed_vm_s_snapshot_leaves_it_whole_or_nothing():
    with Host() as h:
        h.start(args=ARGS)
        h.define("web")
        h.ok("start", "web")
        pid, uid = check_jailed(h, "web")
        h.ok("snapshot-create", "web", "kept")
        h.stop()
        # Moved out of the jail, not committed: no snapshot.
        h.start(args=ARGS, env={"TERND_TEST_KILL_AT": "snapshot"})
        h.ctl("snapshot-create", "web", "half", check=1)
        h.proc.wait(timeout=10)
        assert ".half.new" in os.listdir(snap_dir(h, "web")), "the test killed too early"
        h.start(args=ARGS)
        assert sorted(os.listdir(snap_dir(h, "web"))) == ["kept"]
        assert "interrupted snapshot create; removed" in h.stderr()
        assert h.info("web")["state"] == "running" and h.info("web")["pid"] == pid
        assert "snapshot" not in os.listdir(f"/proc/{pid}/root/")
        h.stop()
        # Committed, not renamed: the next ternd finishes it.
        h.start(args=ARGS, env={"TERND_TEST_KILL_AT": "snapshot-rename"})
        h.ctl("snapshot-create", "web", "whole", check=1)
        h.proc.wait(timeout=10)
        h.start(args=ARGS)
        assert sorted(os.listdir(snap_dir(h, "web"))) == ["kept", "whole"]
        check_catalog_files(h, "web", "whole")
        h.ok("snapshot-revert", "web", "whole")
        check_jailed(h, "web", verb=b"restore")
        h.ok("destroy", "web")
        h.stop()


if __name__ == "__main__":
    main(jail_setup)
