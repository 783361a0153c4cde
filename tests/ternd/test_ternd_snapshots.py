#!/usr/bin/python3
"""ternd's snapshots, setmem and reboot end to end, with the tiny idle32
guest: snapshots of a running and of a paused VM created, listed and
reverted (the VM comes back running or paused as it was, in a new
`tern restore` that ternd follows and re-attaches to after kill -9, with
the balloon target it had: device state the snapshot carried), deleted;
hostile names and bodies refused with nothing made; undefine refused while
snapshots exist; setmem refused without a balloon and followed by tern's
balloon with one; reboot (a guest reset keeps the VM running; Ctrl-Alt-Del
refused where the guest has no keyboard driver; --mode reset); and (with
the sanitizer build's test hooks) kill -9 of ternd inside a snapshot's
create and delete.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
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
from ternd_host import main, ROOT, TERNCTL, Host, has_test_hooks, setup, wait_until  # noqa: E402

BALLOON = {"amount_mib": 0, "deflate_on_oom": True}
RESETTING_GUEST = os.path.join(ROOT, "build/guests/protected32-pvh.elf")
# Counts in RAM at 0x70000, "CNT!" beside it (tests/kvm/guests/count32.S).
COUNTING_GUEST = os.path.join(ROOT, "build/guests/count32-pvh.elf")
COUNTER = 0x70000


def snaps_dir(h, vm):
    return os.path.join(h.state, "vms", vm, "snapshots")


def snapshots(h, vm):
    return {s["name"]: s for s in json.loads(h.ok("snapshot-list", vm, "--json"))["snapshots"]}


def tern_api(h, vm):
    return Api(h.info(vm)["api_socket"])


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def balloon_target(h, vm):
    status, reply = tern_api(h, vm).get("/balloon")
    assert status == 200, reply
    return reply["amount_mib"]


@test
def a_running_vm_is_snapshotted_and_reverted():
    with Host() as h:
        h.start()
        h.define("web", balloon=BALLOON)
        h.ok("start", "web")
        first_pid = h.info("web")["pid"]
        out = h.ok("snapshot", "create", "web", "s1")
        assert out == "Snapshot 's1' of VM 'web' created (the VM was running)\n", out
        # The VM went on running in the same tern.
        info = h.info("web")
        assert (info["state"], info["pid"]) == ("running", first_pid), info
        assert tern_api(h, "web").get("/")[1]["state"] == "Running"
        files = os.path.join(snaps_dir(h, "web"), "s1")
        assert sorted(os.listdir(files)) == ["mem", "state"], os.listdir(files)
        assert sorted(os.listdir(snaps_dir(h, "web"))) == ["s1"]
        s = snapshots(h, "web")["s1"]
        assert (s["state"], s["vm"], s["directory"], s["files_present"]) == \
            ("running", "web", files, True), s
        table = h.ok("snapshot-list", "web").splitlines()
        assert table[0].split() == ["Name", "Creation", "Time", "State", "Size"], table
        assert table[2].split()[0] == "s1" and "running" in table[2], table
        assert h.ok("snapshot-list", "web", "--name") == "s1\n"
        detail = json.loads(h.ok("snapshot-info", "web", "s1", "--json"))
        assert detail["config"]["balloon"]["amount_mib"] == 0, detail
        assert "Directory:      " + files in h.ok("snapshot", "info", "web", "s1")

        # Something the snapshot holds changes: the balloon's target.
        out = h.ok("setmem", "web", "40")
        assert "balloon target 24 MiB" in out, out
        assert balloon_target(h, "web") == 24
        assert h.info("web")["balloon"]["target_mib"] == 24
        assert "Guest memory:   40 MiB of 64 MiB (balloon target 24 MiB)" in h.ok("info", "web")

        out = h.ok("snapshot", "revert", "web", "s1")
        assert out == "VM 'web' reverted to snapshot 's1' (running)\n", out
        info = h.info("web")
        assert info["state"] == "running" and info["reason"] == "reverted to snapshot 's1'", info
        assert info["pid"] != first_pid
        assert not os.path.exists(f"/proc/{first_pid}"), "the old tern still runs"
        argv = cmdline(info["pid"])
        assert argv[1] == b"restore" and os.path.join(files, "state").encode() in argv, argv
        assert tern_api(h, "web").get("/")[1]["state"] == "Running"
        # The device state came back from the snapshot.
        assert balloon_target(h, "web") == 0
        kinds = [(e["kind"], e["reason"]) for e in h.events() if e["name"] == "web"]
        assert ("snapshot-created", "snapshot 's1' created (the VM was running)") in kinds
        assert kinds[-2][0] == "stopped" and "revert to snapshot 's1'" in kinds[-2][1], kinds
        assert kinds[-1] == ("reverted", "reverted to snapshot 's1'"), kinds

        # A reverted VM is re-attached after kill -9, as any other.
        h.kill9()
        h.start()
        assert h.info("web")["state"] == "running"
        assert h.info("web")["pid"] == info["pid"]
        assert "re-attached to VM 'web'" in h.stderr()
        # ... and its snapshot can be taken again (named after the time).
        out = h.ok("snapshot-create", "web")
        auto = out.split("'")[1]
        assert auto.isdigit(), out
        assert sorted(snapshots(h, "web")) == sorted(["s1", auto])

        h.ok("snapshot", "delete", "web", "s1")
        assert sorted(snapshots(h, "web")) == [auto]
        assert sorted(os.listdir(snaps_dir(h, "web"))) == [auto]
        # The VM runs on from the memory file of a deleted snapshot.
        assert tern_api(h, "web").get("/")[1]["state"] == "Running"
        h.ok("destroy", "web")
        # A shut-off VM reverts: it starts from the snapshot.
        h.ok("snapshot-revert", "web", auto)
        assert h.info("web")["state"] == "running"
        h.ok("destroy", "web")
        h.stop()


def count_in(h, vm, snap):
    """The guest's count in the snapshot's memory file (guest physical
    address = file offset)."""
    with open(os.path.join(snaps_dir(h, vm), snap, "mem"), "rb") as f:
        f.seek(COUNTER)
        count, marker = struct.unpack("<II", f.read(8))
    assert marker == 0x21544E43, f"no CNT! marker at {COUNTER:#x}: the layout changed"
    return count


@test
def the_guest_s_memory_comes_back_and_goes_on():
    with Host() as h:
        h.start()
        h.define("counter", kernel=COUNTING_GUEST)
        h.ok("start", "counter")
        time.sleep(2)
        h.ok("snapshot-create", "counter", "a")
        a = count_in(h, "counter", "a")
        time.sleep(3)
        h.ok("snapshot-create", "counter", "b")
        b = count_in(h, "counter", "b")
        assert b > a > 0, (a, b)
        # Back to a: the count resumes from a's (a new boot would start
        # from 0 and, within a second, stay below a's two seconds).
        h.ok("snapshot-revert", "counter", "a")
        h.ok("snapshot-create", "counter", "c")
        c = count_in(h, "counter", "c")
        assert a < c < b, (a, c, b)

        # Paused: the count stands still at the snapshot's until resumed.
        h.ok("pause", "counter")
        h.ok("snapshot-create", "counter", "p")
        p = count_in(h, "counter", "p")
        h.ok("resume", "counter")
        time.sleep(1)
        h.ok("snapshot-revert", "counter", "p")
        assert h.info("counter")["state"] == "paused"
        time.sleep(1)
        h.ok("snapshot-create", "counter", "p2")
        assert count_in(h, "counter", "p2") == p
        h.ok("resume", "counter")
        time.sleep(1)
        h.ok("snapshot-create", "counter", "p3")
        assert count_in(h, "counter", "p3") > p
        h.ok("destroy", "counter")
        h.stop()


@test
def a_paused_vm_reverts_paused():
    with Host() as h:
        h.start()
        h.define("p")
        h.ok("start", "p")
        h.ok("pause", "p")
        out = h.ok("snapshot-create", "p", "frozen")
        assert "the VM was paused" in out, out
        assert h.info("p")["state"] == "paused"
        assert tern_api(h, "p").get("/")[1]["state"] == "Paused"
        h.ok("resume", "p")
        h.ok("snapshot-revert", "p", "frozen")
        info = h.info("p")
        assert info["state"] == "paused", info
        assert tern_api(h, "p").get("/")[1]["state"] == "Paused"
        assert b"--paused" in cmdline(info["pid"])
        h.ok("resume", "p")
        assert tern_api(h, "p").get("/")[1]["state"] == "Running"
        # The revert took the definition back too.
        h.define("p", mem=128)
        h.ok("snapshot-revert", "p", "frozen")
        assert h.info("p")["memory_mib"] == 64
        assert h.info("p")["config"]["machine-config"]["mem_size_mib"] == 64
        h.ok("destroy", "p")
        h.stop()


@test
def bad_snapshot_requests_are_refused_and_make_nothing():
    with Host() as h:
        h.start()
        h.define("web")
        h.fails("snapshot-create", "web", "s", words=("is shut off", "ternctl start web"))
        h.ok("start", "web")
        for name in ("../etc", ".hidden", "a/b", "x" * 65):
            h.fails("snapshot-create", "web", name, words=("snapshot name",))
        h.fails("snapshot-revert", "web", "nothing", words=("no snapshot named 'nothing'",))
        h.fails("snapshot-delete", "web", "nothing", words=("no snapshot named",))
        h.fails("snapshot-info", "web", "nothing", words=("no snapshot named",))
        h.fails("snapshot-list", "nope", words=("no VM named 'nope'",))
        h.fails("snapshot-create", "nope", "s", words=("no VM named 'nope'",))
        h.ctl("snapshot", "explode", "web", check=2)
        h.ctl("snapshot-create", "web", "a", "b", check=2)
        h.ok("snapshot-create", "web", "taken")
        h.fails("snapshot-create", "web", "taken", words=("already",))
        api = h.api()
        cases = [
            ("POST", "/v1/vms/web/snapshots", {"name": "../x"}, 400, "snapshot name"),
            ("POST", "/v1/vms/web/snapshots", {"name": 7}, 400, "expected"),
            ("POST", "/v1/vms/web/snapshots", {"name": "x", "path": "/etc"}, 400,
             "unknown field"),
            ("POST", "/v1/vms/web/snapshots", "not json", 400, "not a JSON object"),
            ("POST", "/v1/vms/web/snapshots", {"name": "taken"}, 409, "already"),
            ("GET", "/v1/vms/web/snapshots/..%2Fx", None, 400, "snapshot name"),
            ("POST", "/v1/vms/web/snapshots/taken/explode", None, 404, "revert"),
            ("GET", "/v1/vms/web/snapshots/taken/revert", None, 405, "allowed"),
            ("PUT", "/v1/vms/web/snapshots", None, 405, "allowed"),
            ("POST", "/v1/vms/web/snapshots/none/revert", None, 404, "no snapshot"),
            ("DELETE", "/v1/vms/web?snapshots=yes", None, 400, "snapshots=true"),
        ]
        for method, url, body, status, words in cases:
            raw = body if isinstance(body, str) else None
            got, answer = api.request(method, url, body=None if raw else body, raw=raw)
            assert got == status and words in answer["fault_message"], (method, url, got, answer)
        assert sorted(os.listdir(snaps_dir(h, "web"))) == ["taken"]
        assert sorted(snapshots(h, "web")) == ["taken"]
        # A directory ternd did not make is not taken over.
        os.mkdir(os.path.join(snaps_dir(h, "web"), "stray"))
        h.fails("snapshot-create", "web", "stray", words=("did not make",))
        assert os.listdir(os.path.join(snaps_dir(h, "web"), "stray")) == []

        # Undefine: refused while snapshots exist, naming the option.
        h.ok("destroy", "web")
        h.fails("undefine", "web", words=("1 snapshot (taken)", "--snapshots-too"))
        assert h.info("web")["state"] == "shut off"
        os.rmdir(os.path.join(snaps_dir(h, "web"), "stray"))
        assert h.ok("undefine", "web", "--snapshots-too") == "VM 'web' undefined\n"
        assert not os.path.exists(os.path.join(h.state, "vms", "web"))
        h.stop()


@test
def setmem_needs_a_balloon_and_moves_its_target():
    with Host() as h:
        h.start()
        h.define("plain")
        h.define("ball", balloon=BALLOON)
        h.fails("setmem", "ball", "32", words=("is shut off",))
        h.ok("start", "plain")
        h.ok("start", "ball")
        h.fails("setmem", "plain", "32", words=("has no balloon device", "\"balloon\""))
        assert h.info("plain")["balloon"] is None
        assert "Guest memory" not in h.ok("info", "plain")
        h.fails("setmem", "ball", "65", words=("from 1 MiB to its 64 MiB",))
        h.fails("setmem", "ball", "0", words=("expected", "bytes"))
        h.ctl("setmem", "ball", "lots", check=2)
        h.fails("setmem", "ball", "1000K", words=("whole MiB",))
        assert balloon_target(h, "ball") == 0
        h.ok("setmem", "ball", "16M")
        assert balloon_target(h, "ball") == 48
        b = h.info("ball")["balloon"]
        assert (b["target_mib"], b["memory_mib"], b["guest_memory_mib"]) == (48, 64, 16), b
        h.ok("setmem", "ball", "64")
        assert balloon_target(h, "ball") == 0
        reasons = [e["reason"] for e in h.events() if e["kind"] == "setmem"]
        assert reasons == ["balloon target 48 MiB: the guest has 16 of 64 MiB",
                           "balloon target 0 MiB: the guest has 64 of 64 MiB"], reasons
        api = h.api()
        for body, words in (({"memory": "1G"}, "expected"), ({"memory": 1 << 20, "x": 1},
                                                             "unknown field")):
            api.fault("POST", "/v1/vms/ball/setmem", body, status=400, words=(words,))
        h.ok("pause", "ball")
        h.ok("setmem", "ball", "32")
        assert balloon_target(h, "ball") == 32
        h.ok("destroy", "plain")
        h.ok("destroy", "ball")
        h.stop()


@test
def reboot_keeps_the_vm_running():
    with Host() as h:
        h.start()
        # protected32 prints and resets at once: under ternd's on_reboot
        # restart its tern boots it again and again, and stays.
        h.define("bouncer", kernel=RESETTING_GUEST)
        h.ok("start", "bouncer")
        pid = h.info("bouncer")["pid"]
        console = h.info("bouncer")["console_log"]

        def resets():
            with open(console, "rb") as f:
                return f.read().count(b"32")
        wait_until(lambda: resets() >= 3, timeout=30, what="three boots of protected32")
        info = h.info("bouncer")
        assert (info["state"], info["pid"]) == ("running", pid), info
        config = tern_api(h, "bouncer").get("/vm/config")[1]
        assert config["tern"]["on_reboot"] == "restart", config
        h.ok("destroy", "bouncer")

        h.define("idle")
        h.fails("reboot", "idle", words=("not running",))
        h.ok("start", "idle")
        pid = h.info("idle")["pid"]
        # idle32 has no keyboard driver: tern refuses the key press.
        h.fails("reboot", "idle", words=("cannot be rebooted by the guest", "--mode reset"))
        h.fails("reboot", "idle", "--mode", "sideways", words=("ctrl-alt-del or reset",))
        assert h.info("idle")["pid"] == pid
        assert h.ok("reboot", "idle", "--mode", "reset") == "VM 'idle' is being rebooted\n"
        info = h.info("idle")
        assert info["state"] == "running" and info["pid"] != pid, info
        assert info["reason"] == "started again by reboot --mode reset", info
        assert not os.path.exists(f"/proc/{pid}")
        kinds = [(e["kind"], e["reason"]) for e in h.events() if e["name"] == "idle"]
        assert kinds[-1] == ("rebooted", "started again by reboot --mode reset"), kinds
        h.ok("pause", "idle")
        h.fails("reboot", "idle", words=("paused",))
        h.ok("reboot", "idle", "--mode", "reset")
        assert h.info("idle")["state"] == "running"
        h.ok("destroy", "idle")

        # A definition that asks tern to exit on a reboot is not rebooted
        # by a key press that would stop it.
        h.define("exiter", tern={"on_reboot": "exit"})
        h.ok("start", "exiter")
        h.fails("reboot", "exiter", words=("on_reboot is exit", "--mode reset"))
        assert h.info("exiter")["state"] == "running"
        h.ok("destroy", "exiter")
        h.stop()


def complete(h, *words):
    """What bash completion offers for `ternctl WORDS...` (the last word is
    the one at the cursor), as test_ternd.py asks it."""
    script = os.path.join(ROOT, "scripts", "completion", "ternctl.bash")
    line = ["ternctl"] + list(words)
    program = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in line)}); "
               f"COMP_CWORD={len(line) - 1}; _ternctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    env = dict(os.environ, PATH=os.path.dirname(TERNCTL) + ":" + os.environ["PATH"],
               TERND_SOCKET=h.sock)
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and not out.stderr, out
    return sorted(w for w in out.stdout.split("\n") if w)


@test
def bash_completion_offers_snapshots_and_modes():
    with Host() as h:
        h.start()
        h.define("web")
        h.ok("start", "web")
        h.ok("snapshot-create", "web", "s1")
        h.ok("snapshot-create", "web", "s2")
        assert complete(h, "snapshot-revert", "web", "") == ["s1", "s2"]
        assert complete(h, "snapshot", "") == ["create", "delete", "info", "list", "revert"]
        assert complete(h, "snapshot", "delete", "web", "s") == ["s1", "s2"]
        assert complete(h, "snapshot", "list", "w") == ["web"]
        assert complete(h, "snapshot-") == ["snapshot-create", "snapshot-delete",
                                             "snapshot-info", "snapshot-list",
                                             "snapshot-revert"]
        assert complete(h, "reboot", "web", "--mode", "") == ["ctrl-alt-del", "reset"]
        assert complete(h, "shutdown", "web", "--mode", "") == ["acpi", "ctrl-alt-del"]
        assert complete(h, "undefine", "web", "--s") == ["--snapshots-too"]
        assert complete(h, "setmem", "") == ["web"]
        h.ok("destroy", "web")
        h.stop()


# ternd's test hooks exist in the sanitizer build only (build/asan/ternd).
@test_in_builds_where(has_test_hooks)
def kill9_inside_a_snapshot_leaves_the_whole_snapshot_or_nothing():
    with Host() as h:
        h.start()
        h.define("web")
        h.ok("start", "web")
        h.ok("snapshot-create", "web", "kept")
        h.stop()
        # Written, not committed: no snapshot, and the VM was resumed.
        h.start(env={"TERND_TEST_KILL_AT": "snapshot"})
        h.ctl("snapshot-create", "web", "half", check=1)
        h.proc.wait(timeout=10)
        assert h.proc.returncode == -signal.SIGKILL
        assert ".half.new" in os.listdir(snaps_dir(h, "web")), "the test killed too early"
        h.start()
        assert sorted(snapshots(h, "web")) == ["kept"]
        assert sorted(os.listdir(snaps_dir(h, "web"))) == ["kept"]
        assert "interrupted snapshot create; removed" in h.stderr()
        assert h.info("web")["state"] == "running"
        assert tern_api(h, "web").get("/")[1]["state"] == "Running"
        h.stop()
        # Committed, not renamed: the next ternd finishes it.
        h.start(env={"TERND_TEST_KILL_AT": "snapshot-rename"})
        h.ctl("snapshot-create", "web", "whole", check=1)
        h.proc.wait(timeout=10)
        h.start()
        assert sorted(snapshots(h, "web")) == ["kept", "whole"]
        assert sorted(os.listdir(snaps_dir(h, "web"))) == ["kept", "whole"]
        assert sorted(os.listdir(os.path.join(snaps_dir(h, "web"), "whole"))) == ["mem", "state"]
        assert "it is complete and is now" in h.stderr()
        h.stop()
        # Moved aside, not committed: the snapshot stays.
        h.start(env={"TERND_TEST_KILL_AT": "snapshot-delete"})
        h.ctl("snapshot-delete", "web", "whole", check=1)
        h.proc.wait(timeout=10)
        h.start()
        assert sorted(snapshots(h, "web")) == ["kept", "whole"]
        assert sorted(os.listdir(snaps_dir(h, "web"))) == ["kept", "whole"]
        # ... and reverts.
        h.ok("snapshot-revert", "web", "whole")
        assert tern_api(h, "web").get("/")[1]["state"] == "Running"
        h.ok("destroy", "web")
        h.stop()


if __name__ == "__main__":
    main(setup)
