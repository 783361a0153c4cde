#!/usr/bin/python3
"""ternd and ternctl end to end on this machine's /dev/kvm: VMs are real tern
processes running build/guests/idle32-pvh.elf (a PVH kernel that halts for
ever, so several run at no CPU cost). Covers the life cycle through ternctl,
ternd killed with SIGKILL while VMs run and a new ternd re-attaching, VMs
that die while ternd is down, a recorded pid that now belongs to another
process, definitions surviving kill -9 (and, with the sanitizer build's test
hooks, kill -9 in the middle of a define or a start), and bad requests.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test, test_in_builds_where  # noqa: E402
from apiclient import Api, parse_prometheus  # noqa: E402
from ternd_host import (main, GUEST, TERN, TERNCTL, TERND, Host, has_test_hooks,  # noqa: E402
                        pid_alive, setup, wait_until)
# A tiny guest that unmasks the power button's IOAPIC pin (tests/kvm/guests).
GED_GUEST = os.path.join(os.path.dirname(GUEST), "ged32-pvh.elf")


@test
def help_and_usage_errors():
    out = subprocess.run([TERNCTL, "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for verb in ("define NAME FILE", "undefine", "start", "shutdown", "destroy",
                 "list [--all]", "info", "pause", "resume", "autostart NAME [--disable]",
                 "vol-create NAME SIZE", "vol-clone SRC NAME", "vol-resize NAME SIZE [--shrink]",
                 "vol-delete NAME", "vol-list", "events [--follow] [--json]", "Exit status"):
        assert verb in out.stdout, verb
    out = subprocess.run([TERNCTL, "list", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--all" in out.stdout and "shut off" in out.stdout
    for argv, word in ((["bogus"], "unknown verb 'bogus'"), (["start"], "expected start NAME"),
                       (["--frob", "list"], "unknown option"),
                       (["start", "a", "--json"], "--json"),
                       (["info", "a", "--all"], "--all"), (["-c"], "needs a socket"),
                       (["start", "a", "--shrink"], "--shrink"),
                       (["vol-create", "a", "10Q"], "size '10Q'"),
                       (["vol-resize", "a", "-5"], "unknown option"),
                       (["vol-create", "a", "99999999999999999999G"], "size"),
                       (["events", "--all"], "--all")):
        out = subprocess.run([TERNCTL] + argv, capture_output=True, text=True)
        assert out.returncode == 2, (argv, out)
        assert word in out.stderr, (argv, out.stderr)
    out = subprocess.run([TERND, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--state-dir" in out.stdout and "--socket" in out.stdout
    out = subprocess.run([TERND, "--bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown option" in out.stderr


@test
def missing_ternd_is_a_clear_error():
    with Host() as h:
        line = h.fails("list", words=("cannot reach ternd at", h.sock, "is ternd running"))
        assert "No such file" in line
        h.fails("start", "web", words=("cannot reach ternd",))


@test
def define_start_list_pause_resume_destroy_undefine():
    with Host() as h:
        h.start()
        doc = h.define("web", vcpus=2, mem=128)
        h.define("db")
        vms = h.listing("--all")
        assert vms["web"] == {"name": "web", "state": "shut off", "vcpus": 2, "memory_mib": 128}
        assert "web" not in h.listing(), "list without --all shows only active VMs"
        assert "web" in h.ok("list", "--all") and "shut off" in h.ok("list", "--all")

        assert h.ok("start", "web") == "VM 'web' started\n"
        info = h.info("web")
        assert info["state"] == "running" and info["config"] == doc
        pid = info["pid"]
        assert pid_alive(pid) and h.tern_pids() == [pid]
        # The VM's own tern answers on the socket ternd recorded.
        assert Api(info["api_socket"]).get("/")[1]["state"] == "Running"
        table = h.ok("list").splitlines()
        assert table[0].split() == ["Name", "State", "vCPUs", "Memory"]
        assert table[2].split() == ["web", "running", "2", "128", "MiB"]
        assert not any(line.split()[:1] == ["db"] for line in table[2:])

        h.ok("pause", "web")
        assert h.info("web")["state"] == "paused"
        assert Api(info["api_socket"]).get("/")[1]["state"] == "Paused"
        assert "paused" in h.ok("list")
        h.ok("resume", "web")
        assert Api(info["api_socket"]).get("/")[1]["state"] == "Running"
        assert h.info("web")["state"] == "running"

        assert h.ok("destroy", "web") == "VM 'web' destroyed\n"
        info = h.info("web")
        assert info["state"] == "shut off" and info["pid"] is None
        assert "destroyed" in info["reason"]
        assert not pid_alive(pid) and h.tern_pids() == []
        # A shut-off VM starts again.
        h.ok("start", "web")
        h.ok("destroy", "web")
        h.ok("undefine", "web")
        assert set(h.listing("--all")) == {"db"}
        assert not os.path.exists(os.path.join(h.state, "vms", "web"))
        h.stop()


@test
def a_firmware_vm_is_defined_without_a_kernel_and_boots_its_bios():
    """tern's configuration document for --firmware has boot-source null and
    tern.firmware (docs/firmware.md); ternd takes it as a definition and its
    tern runs SeaBIOS, whose banner reaches the VM's console log."""
    with Host() as h:
        h.start()
        doc = {"boot-source": None,
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
               "tern": {"firmware": "/usr/share/seabios/bios.bin"}}
        path = os.path.join(h.dir, "bios.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        h.ok("define", "bios", path)
        h.ok("start", "bios")
        info = h.info("bios")
        assert info["state"] == "running", info
        assert info["config"]["tern"]["firmware"] == "/usr/share/seabios/bios.bin", info
        console = os.path.join(h.state, "vms", "bios", "console.log")

        def banner():
            with open(console, errors="replace") as f:
                return "SeaBIOS (version" in f.read()
        wait_until(banner, timeout=60, what="SeaBIOS's banner on the console")
        h.ok("destroy", "bios")
        # boot-source null without a firmware: refused.
        del doc["tern"]
        with open(path, "w") as f:
            json.dump(doc, f)
        h.fails("define", "nothing", path, words=("boot-source",))
        assert set(h.listing("--all")) == {"bios"}
        h.stop()


@test
def wrong_state_and_unknown_vm_are_refused_and_change_nothing():
    with Host() as h:
        h.start()
        h.define("web")
        h.fails("pause", "web", words=("'web' is not running",))
        h.fails("destroy", "web", words=("not running",))
        h.fails("shutdown", "web", words=("not running",))
        h.ok("start", "web")
        pid = h.info("web")["pid"]
        h.fails("start", "web", words=("'web' is already running",))
        h.fails("resume", "web", words=("already running",))
        h.fails("undefine", "web", words=("is running", "destroy"))
        h.ok("pause", "web")
        h.fails("start", "web", words=("already paused",))
        h.fails("pause", "web", words=("already paused",))
        h.fails("shutdown", "web", words=("paused", "resume"))
        # None of the refusals touched the running VM.
        assert pid_alive(pid) and h.info("web")["pid"] == pid
        assert h.info("web")["state"] == "paused"
        for verb in ("start", "info", "destroy", "undefine", "pause"):
            h.fails(verb, "nosuch", words=("no VM named 'nosuch'", "list --all"))
        h.ok("destroy", "web")
        h.stop()


@test
def shutdown_says_when_the_guest_cannot_hear_it():
    """idle32 has neither an ACPI GED driver nor a keyboard driver: tern
    refuses SendPowerButton (the default mode) and SendCtrlAltDel, and ternd
    passes tern's reason on instead of pretending the guest was asked."""
    with Host() as h:
        h.start()
        h.define("web")
        h.ok("start", "web")
        pid = h.info("web")["pid"]
        h.fails("shutdown", "web", words=("cannot be shut down by the guest", "power button",
                                          "ternctl destroy web"))
        h.fails("shutdown", "web", "--mode", "ctrl-alt-del",
                words=("cannot be shut down by the guest", "keyboard", "ternctl destroy web"))
        h.fails("shutdown", "web", "--mode", "initctl", words=("acpi or ctrl-alt-del",))
        h.fails("start", "web", "--mode", "acpi", words=("--mode belongs to shutdown",),
                status=2)
        assert pid_alive(pid) and h.info("web")["state"] == "running"
        h.ok("destroy", "web")
        h.stop()


@test
def shutdown_presses_the_power_button_by_default():
    """ged32 listens for the power button as Linux's GED driver does: ternd's
    shutdown (no mode, and --mode acpi) is tern's SendPowerButton."""
    with Host() as h:
        h.start()
        h.define("web", kernel=GED_GUEST)
        h.ok("start", "web")
        wait_until(lambda: h.ctl("shutdown", "web").returncode == 0, what="a press accepted")
        h.ok("shutdown", "web", "--mode", "acpi")
        samples = parse_prometheus(Api(h.info("web")["api_socket"]).get("/metrics")[1])
        assert samples[("tern_power_button_presses_total", "")] == 2
        h.ok("destroy", "web")
        h.stop()


@test
def bad_definitions_are_refused_and_nothing_is_created():
    with Host() as h:
        h.start()
        bad = os.path.join(h.dir, "bad.json")
        cases = [
            ("{not json", ("not JSON",)),
            ("[1, 2]", ("JSON object",)),
            (json.dumps({"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}),
             ("boot-source",)),
            (json.dumps({"boot-source": {"kernel_image_path": GUEST},
                         "machine-config": {"vcpu_count": 0, "mem_size_mib": 64}}), ("vcpu",)),
            (json.dumps({"boot-source": {"kernel_image_path": GUEST},
                         "frobnicate": {}}), ("frobnicate",)),
            (json.dumps({"boot-source": {"kernel_image_path": GUEST},
                         "machine-config": {"vcpu_count": 1, "mem_size_mib": "lots"}}),
             ("mem_size_mib",)),
        ]
        for text, words in cases:
            with open(bad, "w") as f:
                f.write(text)
            h.fails("define", "web", bad, words=("define: ",) + words)
        h.fails("define", "web", os.path.join(h.dir, "missing.json"),
                words=("cannot read", "No such file"))
        for name in ("../etc", "a/b", ".hidden", "x" * 65, "sp ace", "_under"):
            h.fails("define", name, bad, words=("name",))
        assert h.listing("--all") == {}
        assert os.listdir(os.path.join(h.state, "vms")) == []

        api = h.api()
        status, body = api.request("PUT", "/v1/vms/..%2Fetc", raw="{}")
        assert status == 400 and "name" in body["fault_message"], (status, body)
        # A body declared too large is refused before it is read.
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(h.sock)
            s.sendall(b"PUT /v1/vms/web HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 2000000\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 413"), "no 413"
        # One sent without a length (chunked) is read, not kept, refused.
        status, body = api.request("PUT", "/v1/vms/web", raw=iter([b"x" * 65536] * 20))
        assert status == 413 and "larger than" in body["fault_message"], status
        status, body = api.request("GET", "/v2/things")
        assert status == 404 and "/v1/vms" in body["fault_message"]
        status, body = api.request("PATCH", "/v1/vms/web")
        assert status == 405 and "allowed" in body["fault_message"]
        status, body = api.request("GET", "/v1/vms/web/start")
        assert status == 405
        status, body = api.request("POST", "/v1/vms/web/explode")
        assert status in (404,) and "unknown action" in body["fault_message"]
        status, body = api.request("PUT", "/v1/vms/web", raw='{"a": 1, "a": 2}')
        assert status == 400 and "not JSON" in body["fault_message"]
        assert api.get("/v1/vms") == (200, {"vms": []})
        assert api.get("/v1/version")[1]["name"] == "ternd"
        h.stop()


@test
def a_tern_that_fails_to_start_is_reported_with_its_reason():
    with Host() as h:
        h.start()
        not_a_kernel = os.path.join(h.dir, "not-a-kernel")
        with open(not_a_kernel, "wb") as f:
            f.write(b"\0" * 4096)
        h.define("broken", kernel=not_a_kernel)
        line = h.fails("start", "broken", words=("'broken' failed to start", "tern.log"))
        assert "tern:" in line, line    # tern's own last log line
        info = h.info("broken")
        assert info["state"] == "shut off" and "failed to start" in info["reason"]
        assert h.tern_pids() == []
        h.stop()


@test
def an_exit_while_ternd_runs_is_recorded():
    with Host() as h:
        h.start()
        h.define("web")
        h.ok("start", "web")
        os.kill(h.info("web")["pid"], signal.SIGKILL)
        wait_until(lambda: h.info("web")["state"] == "shut off", what="the exit recorded")
        assert "killed by SIGKILL" in h.info("web")["reason"], h.info("web")
        assert "VM 'web' is shut off" in h.stderr()
        h.ok("start", "web")    # and it starts again
        h.ok("destroy", "web")
        h.stop()


@test
def kill9_of_ternd_then_a_new_ternd_reattaches():
    with Host() as h:
        h.start()
        h.define("a", vcpus=2)
        h.define("b")
        h.define("c")
        h.ok("start", "a")
        h.ok("start", "b")
        h.ok("pause", "b")
        pids = {name: h.info(name)["pid"] for name in ("a", "b")}
        h.kill9()
        time.sleep(0.3)
        assert all(pid_alive(p) for p in pids.values()), "a VM died with ternd"
        h.fails("list", words=("cannot reach ternd",))

        h.start()
        vms = h.listing("--all")
        assert (vms["a"]["state"], vms["b"]["state"], vms["c"]["state"]) == \
            ("running", "paused", "shut off"), vms
        assert h.info("a")["pid"] == pids["a"]
        log = h.stderr()
        assert "re-attached to VM 'a'" in log and "re-attached to VM 'b'" in log
        # Controllable: pause, resume, exits noticed, destroy.
        h.ok("pause", "a")
        h.ok("resume", "b")
        assert Api(h.info("b")["api_socket"]).get("/")[1]["state"] == "Running"
        h.ok("resume", "a")
        os.kill(pids["b"], signal.SIGKILL)
        wait_until(lambda: h.info("b")["state"] == "shut off",
                   what="a re-attached VM's exit recorded")
        h.ok("destroy", "a")
        assert not pid_alive(pids["a"])
        # A plain stop (SIGTERM) leaves the VMs running too.
        h.ok("start", "c")
        pid_c = h.info("c")["pid"]
        h.stop()
        assert pid_alive(pid_c)
        h.start()
        assert h.info("c")["state"] == "running"
        h.ok("destroy", "c")
        h.stop()


@test
def a_vm_killed_while_ternd_is_down_is_reported_shut_off():
    with Host() as h:
        h.start()
        h.define("web")
        h.define("db")
        h.ok("start", "web")
        h.ok("start", "db")
        web = h.info("web")["pid"]
        h.kill9()
        os.kill(web, signal.SIGKILL)
        wait_until(lambda: not pid_alive(web), what="the VM gone")
        h.start()
        info = h.info("web")
        assert info["state"] == "shut off" and info["pid"] is None
        assert info["reason"] == "stopped while ternd was not running", info
        assert "VM 'web' (pid %d) stopped while ternd was not running" % web in h.stderr()
        assert h.info("db")["state"] == "running"
        h.ok("start", "web")
        h.ok("destroy", "web")
        h.ok("destroy", "db")
        h.stop()


@test
def a_recorded_pid_now_used_by_another_process_is_not_taken_for_the_vm():
    with Host() as h:
        h.start()
        h.define("web")
        h.stop()
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            # As if the VM's tern had died and its pid been reused.
            db = sqlite3.connect(os.path.join(h.state, "ternd.db"))
            with open(f"/proc/{sleeper.pid}/stat") as f:
                start_time = int(f.read().rsplit(")", 1)[1].split()[19])
            db.execute("UPDATE vm_runtime SET state = 'running', pid = ?, pid_start_time = ?, "
                       "api_socket = ? WHERE name = 'web'",
                       (sleeper.pid, start_time, os.path.join(h.state, "vms/web/api.sock")))
            db.commit()
            db.close()
            h.start()
            assert h.info("web")["state"] == "shut off"
            assert sleeper.poll() is None, "ternd touched a process that is not its VM"
            h.fails("destroy", "web", words=("not running",))
            assert sleeper.poll() is None
            h.stop()
        finally:
            sleeper.kill()
            sleeper.wait()


@test
def definitions_survive_kill9():
    with Host() as h:
        h.start()
        docs = {f"vm{i}": h.define(f"vm{i}", vcpus=i + 1, mem=64 + i) for i in range(5)}
        h.kill9()
        h.start()
        for name, doc in docs.items():
            assert h.info(name)["config"] == doc
        # A redefinition replaces the document, and survives too.
        docs["vm0"] = h.define("vm0", vcpus=3, mem=96)
        h.kill9()
        h.start()
        assert h.info("vm0")["config"] == docs["vm0"]
        assert h.listing("--all")["vm0"]["vcpus"] == 3
        h.stop()


# ternd's test hooks exist in the sanitizer build only (build/asan/ternd).
@test_in_builds_where(has_test_hooks)
def kill9_in_the_middle_of_a_define_leaves_nothing_half_made():
    with Host() as h:
        h.start()
        kept = h.define("kept")
        h.stop()
        h.start(env={"TERND_TEST_KILL_AT": "define"})
        path = os.path.join(h.dir, "new.json")
        with open(path, "w") as f:
            json.dump(kept, f)
        h.ctl("define", "new", path, check=1)
        h.proc.wait(timeout=10)
        assert h.proc.returncode == -signal.SIGKILL, h.proc.returncode
        h.start()
        assert set(h.listing("--all")) == {"kept"}
        assert h.info("kept")["config"] == kept
        # The redefinition of an existing VM is all or nothing too.
        h.stop()
        h.start(env={"TERND_TEST_KILL_AT": "define"})
        h.ctl("define", "kept", path.replace("new", "other"), check=1)   # unreadable: no request
        with open(path, "w") as f:
            json.dump(dict(kept, **{"machine-config": {"vcpu_count": 4, "mem_size_mib": 64}}), f)
        h.ctl("define", "kept", path, check=1)
        h.proc.wait(timeout=10)
        h.start()
        assert h.info("kept")["config"] == kept
        h.stop()


# ternd's test hooks exist in the sanitizer build only (build/asan/ternd).
@test_in_builds_where(has_test_hooks)
def kill9_in_the_middle_of_a_start_leaves_no_vm_running():
    with Host() as h:
        h.start(env={"TERND_TEST_KILL_AT": "start"})
        h.define("web")
        h.ctl("start", "web", check=1)
        h.proc.wait(timeout=10)
        assert h.proc.returncode == -signal.SIGKILL
        # The child was recorded but never became tern: it must go away.
        wait_until(lambda: h.tern_pids() == [], timeout=5, what="no tern left")
        time.sleep(0.5)
        assert h.tern_pids() == []
        h.start()
        info = h.info("web")
        assert info["state"] == "shut off", info
        h.ok("start", "web")
        h.ok("destroy", "web")
        h.stop()


@test
def one_ternd_per_state_directory_and_socket():
    with Host() as h:
        h.start()
        second = subprocess.run([TERND, "--foreground", "--state-dir", h.state, "--socket",
                                 h.sock + "2", "--tern", TERN], capture_output=True, text=True,
                                timeout=30)
        assert second.returncode == 1 and "another ternd uses the state directory" in \
            second.stderr, second
        other = os.path.join(h.dir, "other-state")
        second = subprocess.run([TERND, "--foreground", "--state-dir", other, "--socket",
                                 h.sock, "--tern", TERN], capture_output=True, text=True,
                                timeout=30)
        assert second.returncode == 1 and "in use by another process" in second.stderr, second
        assert h.api().get("/v1/vms")[0] == 200
        bad = subprocess.run([TERND, "--foreground", "--state-dir", other, "--socket", h.sock,
                              "--tern", "/nonexistent/tern"], capture_output=True, text=True)
        assert bad.returncode == 1 and "--tern /nonexistent/tern" in bad.stderr, bad
        h.stop()
        assert not os.path.exists(h.sock), "ternd left its socket behind"


@test
def a_relative_state_directory_is_made_absolute():
    """VMs run from / (relative paths in definitions mean the same for all),
    so ternd's own paths must not depend on where it was started."""
    with Host() as h:
        h.start(relative=True)
        h.define("web")
        h.ok("start", "web")
        info = h.info("web")
        assert info["api_socket"] == os.path.join(h.state, "vms/web/api.sock"), info
        assert os.readlink(f"/proc/{info['pid']}/cwd") == "/"
        h.kill9()
        h.start()    # the same state, named absolutely: re-attaches
        assert h.info("web")["state"] == "running"
        h.ok("destroy", "web")
        h.stop()


@test
def without_foreground_ternd_detaches_once_it_listens():
    with Host() as h:
        result = subprocess.run([TERND, "--state-dir", h.state, "--socket", h.sock,
                                 "--tern", TERN], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result
        daemon = None
        try:
            # It answers as soon as the starting process has returned.
            assert h.api().get("/v1/vms") == (200, {"vms": []})
            with open(os.path.join(h.state, "ternd.log")) as f:
                assert "listening on" in f.read()
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        with open(f"/proc/{entry}/cmdline", "rb") as f:
                            argv = f.read().split(b"\0")
                    except OSError:
                        continue
                    if argv[0] == TERND.encode() and h.state.encode() in argv:
                        daemon = int(entry)
            assert daemon, "no detached ternd found"
        finally:
            if daemon:
                os.kill(daemon, signal.SIGTERM)
                wait_until(lambda: not pid_alive(daemon), what="the daemon stopped")


@test
def autostart_starts_vms_when_ternd_starts_and_leaves_running_ones_alone():
    with Host() as h:
        h.start()
        for name in ("a", "b", "c"):
            h.define(name)
        assert h.ok("autostart", "a") == \
            "VM 'a' starts when ternd starts (autostart)\n"
        h.ok("autostart", "b")
        assert h.info("a")["autostart"] is True and h.info("c")["autostart"] is False
        assert "Autostart:      enabled" in h.ok("info", "a")
        h.fails("autostart", "nosuch", words=("no VM named 'nosuch'",))
        h.fails("autostart", "../x", words=("name",))
        # b runs already when ternd next starts: re-attached, not restarted.
        h.ok("start", "b")
        pid_b = h.info("b")["pid"]
        h.kill9()
        h.start()
        # Autostarts run at once: running from the launch on, "started by
        # autostart" once the tern answers.
        wait_until(lambda: h.info("a")["reason"] == "started by autostart",
                   what="a autostarted")
        assert h.info("a")["reason"] == "started by autostart", h.info("a")
        assert h.info("b")["pid"] == pid_b and h.info("b")["reason"] == "started"
        assert h.info("c")["state"] == "shut off"
        assert "re-attached to VM 'b'" in h.stderr()
        # A VM killed while ternd is down comes back too.
        pid_a = h.info("a")["pid"]
        h.kill9()
        os.kill(pid_a, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid_a), what="a gone")
        h.start()
        wait_until(lambda: h.info("a")["reason"] == "started by autostart",
                   what="a autostarted again")
        assert h.info("a")["pid"] != pid_a
        # --disable: the next ternd leaves it shut off.
        assert "no longer starts" in h.ok("autostart", "a", "--disable")
        h.ok("destroy", "a")
        h.stop()
        h.start()
        time.sleep(0.5)
        assert h.info("a")["state"] == "shut off"
        kinds = [(e["name"], e["kind"], e["reason"]) for e in h.events()]
        assert ("a", "started", "started by autostart") in kinds, kinds
        assert ("a", "autostart", "autostart disabled") in kinds, kinds
        h.ok("destroy", "b")
        h.stop()


@test
def an_autostart_vm_that_cannot_start_does_not_stop_ternd():
    with Host() as h:
        h.start()
        not_a_kernel = os.path.join(h.dir, "not-a-kernel")
        with open(not_a_kernel, "wb") as f:
            f.write(b"\0" * 4096)
        h.define("broken", kernel=not_a_kernel)
        h.define("good")
        h.ok("autostart", "broken")
        h.ok("autostart", "good")
        h.stop()
        h.start()
        wait_until(lambda: h.info("good")["reason"] == "started by autostart",
                   what="good autostarted")
        # Started at once with good, followed by the loop: its tern's
        # failure comes when it comes.
        wait_until(lambda: h.info("broken")["state"] == "shut off", what="broken failed")
        assert "autostart of VM 'broken' failed" in h.stderr()
        h.ok("destroy", "good")
        h.stop()


@test
def the_event_log_records_each_change_with_its_reason():
    with Host() as h:
        h.start()
        h.define("web")
        h.ok("start", "web")
        h.ok("pause", "web")
        h.ok("resume", "web")
        h.ok("destroy", "web")
        h.ok("start", "web")
        pid = h.info("web")["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: h.info("web")["state"] == "shut off", what="the crash recorded")
        h.define("web")
        h.ok("undefine", "web")
        events = h.events()
        got = [(e["object"], e["name"], e["kind"]) for e in events]
        assert got == [("vm", "web", k) for k in (
            "defined", "started", "paused", "resumed", "stopped", "started", "crashed",
            "defined", "undefined")], got
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        assert "destroyed" in events[4]["reason"]
        assert "killed by SIGKILL" in events[6]["reason"], events[6]
        assert events[7]["reason"] == "redefined"
        assert all(abs(e["time"] - time.time()) < 600 for e in events)
        table = h.ok("events").splitlines()
        assert len(table) == len(events) and " vm web crashed: " in table[6], table
        # The log survives kill -9, and ids go on from where they were.
        h.kill9()
        h.start()
        h.define("db")
        again = h.events()
        assert again[:-1] == events and again[-1]["id"] > events[-1]["id"]
        api = h.api()
        last = again[-1]["id"]
        assert api.get(f"/v1/events?since={last}") == (200, {"events": [], "last_id": last})
        for query in ("since=-1", "since=x", "wait=31", "limit=0x10", "since="):
            status, body = api.get(f"/v1/events?{query}")
            assert status == 400 and "expected an integer" in body["fault_message"], (query, body)
        status, body = api.get("/v1/events?since=0&limit=1")
        assert status == 200 and len(body["events"]) == 1 and body["last_id"] == 1, body
        h.stop()


@test
def events_follow_waits_for_new_events_and_a_long_poll_times_out():
    with Host() as h:
        h.start()
        h.define("web")
        follower = subprocess.Popen([TERNCTL, "-c", h.sock, "events", "--follow", "--json"],
                                    stdout=subprocess.PIPE, text=True)
        try:
            first = json.loads(follower.stdout.readline())
            assert (first["name"], first["kind"]) == ("web", "defined")
            # A long poll is waiting now: the next change wakes it.
            time.sleep(0.5)
            started = time.time()
            h.ok("start", "web")
            line = json.loads(follower.stdout.readline())
            assert (line["name"], line["kind"]) == ("web", "started"), line
            assert time.time() - started < 10
            # Other requests are served while the poll waits.
            assert h.info("web")["state"] == "running"
            h.ok("destroy", "web")
            assert json.loads(follower.stdout.readline())["kind"] == "stopped"
        finally:
            follower.kill()
            follower.wait()
        # Nothing new: the poll answers empty once its time is up.
        api = h.api()
        last = h.events()[-1]["id"]
        started = time.time()
        status, body = api.get(f"/v1/events?since={last}&wait=2")
        waited = time.time() - started
        assert status == 200 and body["events"] == [] and 1.5 < waited < 10, (body, waited)
        # A waiting poll does not keep ternd from stopping.
        waiter = subprocess.Popen([TERNCTL, "-c", h.sock, "events", "--follow"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        h.stop()
        waiter.wait(timeout=60)
        assert waiter.returncode == 1


MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "man")


def complete(h, *words):
    """What bash completion offers for `ternctl WORDS...` (the last word is
    the one at the cursor), with this build's ternctl first in PATH."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                          "scripts", "completion", "ternctl.bash")
    line = ["ternctl"] + list(words)
    program = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in line)}); "
               f"COMP_CWORD={len(line) - 1}; _ternctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    env = dict(os.environ, PATH=os.path.dirname(TERNCTL) + ":" + os.environ["PATH"],
               TERND_SOCKET=h.sock)
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and not out.stderr, out
    return sorted(w for w in out.stdout.split("\n") if w)


def complete_fish(h, *words):
    """What fish offers for `ternctl WORDS...` through ternctl.fish."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                          "scripts", "completion", "ternctl.fish")
    line = " ".join(["ternctl"] + list(words))
    env = dict(os.environ, PATH=os.path.dirname(TERNCTL) + ":" + os.environ["PATH"],
               TERND_SOCKET=h.sock)
    out = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and not out.stderr, out
    return sorted(w.split("\t")[0] for w in out.stdout.split("\n") if w)


# Drives an interactive zsh on a pseudo-terminal (zsh/zpty): the line
# "ternctl WORDS" and a Tab, with _ternctl on $fpath; prints what zsh drew.
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "fpath=(${(q)1} \\$fpath)"
zpty -w z 'PS1="%% "; autoload -U compinit; compinit -u
  zstyle ":completion:*" list-prompt ""; zstyle ":completion:*" menu no
  unsetopt zle_bracketed_paste; setopt nobeep; print READY-$((6*7))'
local out all; integer n=0
while (( n++ < 600 )); do
  zpty -r -t z out && all+=$out; [[ $all == *READY-42* ]] && break; sleep 0.1
done
all=
zpty -w -n z "ternctl $2"$'\t'
# Done when the terminal has been quiet for 3 s after the first output (an
# emulated test host under load is slow to complete), at most 60 s.
integer quiet=0; n=0
while (( n++ < 200 && quiet < 10 )); do
  sleep 0.3
  if zpty -r -t z out; then all+=$out; quiet=0; elif [[ -n $all ]]; then (( quiet++ )); fi
done
print -r -- "$all"
zpty -d z
"""


def complete_zsh(h, *words):
    """What zsh shows after `ternctl WORDS<Tab>` through _ternctl: the
    terminal's text with its escape sequences taken out."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "scripts", "completion")
    env = dict(os.environ, PATH=os.path.dirname(TERNCTL) + ":" + os.environ["PATH"],
               TERND_SOCKET=h.sock)
    out = subprocess.run(["zsh", "-f", "-c", ZSH_DRIVER, "zsh", here, " ".join(words)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and not out.stderr, out
    # Escape sequences and the other control characters a terminal's
    # description adds (TERM differs between machines: \x0f is one) go.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>()][0-9A-B]?|[\x00-\x09\x0b-\x1f\x7f]",
                  " ", out.stdout)
    # What the line holds after the Tab, and the words listed under it.
    return text.split("ternctl ", 1)[1] if "ternctl " in text else text


def help_verbs():
    out = subprocess.run([TERNCTL, "--help"], capture_output=True, text=True).stdout
    lines = out.split("Verbs:\n")[1].split("\n\n")[0].splitlines()
    return sorted(line.split()[0] for line in lines)


@test
def bash_completion_offers_verbs_options_and_names():
    with Host() as h:
        # ternd not running: verbs and options, no names, no noise.
        assert complete(h, "") == help_verbs()
        assert complete(h, "vol-") == [v for v in help_verbs() if v.startswith("vol-")]
        assert complete(h, "start", "") == []
        h.start()
        h.define("web")
        h.define("db")
        h.ok("vol-create", "disk1", "1M")
        h.ok("start", "web")
        assert complete(h, "start", "") == ["db", "web"]
        assert complete(h, "destroy", "") == ["web"], "only running VMs to destroy"
        assert complete(h, "info", "w") == ["web"]
        assert complete(h, "start", "web", "") == []
        assert complete(h, "vol-delete", "") == ["disk1"]
        assert complete(h, "vol-clone", "d") == ["disk1"]
        assert complete(h, "list", "--") == ["--all", "--help", "--json", "--name"]
        assert complete(h, "vol-resize", "disk1", "1G", "--s") == ["--shrink"]
        assert complete(h, "autostart", "web", "--d") == ["--disable"]
        assert complete(h, "events", "--f") == ["--follow"]
        # -c names the ternd to ask.
        other = Host()
        assert complete(other, "-c", h.sock, "start", "") == ["db", "web"]
        assert complete(other, "start", "") == []
        h.ok("destroy", "web")
        h.stop()


@test
def fish_completion_gives_what_bash_completion_gives():
    with Host() as h:
        assert complete_fish(h, "") == help_verbs()
        assert complete_fish(h, "snap") == complete(h, "snap")
        h.start()
        h.define("web")
        h.define("db")
        h.ok("start", "web")
        assert complete_fish(h, "start", "") == ["db", "web"]
        assert complete_fish(h, "destroy", "") == ["web"]
        assert complete_fish(h, "list", "--") == ["--all", "--help", "--json", "--name"]
        # -c names the ternd to ask, as in bash.
        assert complete_fish(Host(), "-c", h.sock, "info", "d") == ["db"]
        h.ok("destroy", "web")
        h.stop()


@test
def zsh_completion_gives_what_bash_completion_gives():
    with Host() as h:
        # One candidate: zsh completes the word in the line.
        assert complete_zsh(h, "snapshot-rev").split() == ["snapshot-revert"]
        h.start()
        h.define("web")
        h.define("db")
        h.ok("start", "web")
        # Several: zsh lists them under the line.
        shown = complete_zsh(h, "start", "").split()
        assert "db" in shown and "web" in shown, shown
        shown = complete_zsh(h, "destroy", "").split()
        assert shown[-1] == "web" and "db" not in shown, shown
        shown = complete_zsh(h, "list", "--").split()
        assert {"--all", "--help", "--json", "--name"} <= set(shown), shown
        h.ok("destroy", "web")
        h.stop()


@test
def the_man_pages_render_and_name_every_verb_and_option():
    for page in ("ternctl.1", "ternd.8"):
        out = subprocess.run(["man", "--warnings", "-l", os.path.join(MAN, page)],
                             capture_output=True, text=True,
                             env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
        assert out.returncode == 0 and not out.stderr.strip(), (page, out.stderr)
        text = out.stdout.replace("\u2010", "-").replace("\u2011", "-")
        # man hyphenates at line ends: join the words back.
        text = text.replace("-\n", "").replace("\u2010\n", "")
        if page == "ternctl.1":
            for verb in help_verbs():
                assert verb in text, verb
            for option in ("--connect", "--json", "--all", "--name", "--shrink", "--disable",
                           "--follow", "TERND_SOCKET", "EXIT STATUS"):
                assert option in text, option
        else:
            usage = subprocess.run([TERND, "--help"], capture_output=True, text=True).stdout
            for option in ("--state-dir", "--socket", "--foreground", "--tern", "--pool-dir",
                           "--log-level", "--metrics-listen", "--jail-uid-base",
                           "--jail-uid-count", "--jail-tern"):
                assert option in usage and option in text, option


if __name__ == "__main__":
    main(setup)
