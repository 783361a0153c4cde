#!/usr/bin/python3
"""Starts that proceed at once: ternd follows a starting VM's tern from
its loop, so a start holds neither other requests nor other starts; and
a ternd killed (kill -9) while VMs start leaves none half-started: the
next ternd sees each start through or records the VM shut off.

The VMs are fake terns (fake_tern.py) that take FAKE_TERN_DELAY seconds
before they answer, so the test needs no KVM and shows the overlap
plainly. TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the
same tests against the sanitizer build."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tap import test  # noqa: E402
from ternd_host import main, TERND, TERNCTL, GUEST, Host, wait_until  # noqa: E402

FAKE_TERN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_tern.py")
DELAY = 5.0  # each fake tern's start (after its Python start-up)
COUNT = 6


def start_fake(h, env=None):
    h.start(args=["--tern", FAKE_TERN],
            env=dict({"FAKE_TERN_DELAY": str(DELAY)}, **(env or {})))


def gate_of(h):
    """A file whose creation lets the fake terns come up (fake_tern.py):
    the test, not a delay racing a loaded host, decides when they answer."""
    return os.path.join(h.dir, "gate")


def started_in_threads(h, names, finished=None):
    """ternctl start for each name at once; {name: CompletedProcess}, and
    in finished (if given) when each returned."""
    results = {}

    def one(name):
        results[name] = h.ctl("start", name)
        if finished is not None:
            finished[name] = time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    return threads, results


def timed(fn):
    began = time.monotonic()
    value = fn()
    return value, time.monotonic() - began


@test
def several_starts_at_once_overlap_and_list_answers_meanwhile():
    with Host() as h:
        start_fake(h, env={"FAKE_TERN_GATE": gate_of(h)})
        names = [f"vm{i}" for i in range(COUNT)]
        for name in names:
            h.define(name)
        finished = {}
        threads, results = started_in_threads(h, names, finished)
        # While they start: list and info answer at once, the VMs shown
        # running (their tern launched) with the reason "starting".
        wait_until(lambda: sum(vm["state"] == "running"
                               for vm in h.listing("--all").values()) == COUNT,
                   timeout=30, what="every VM launched")
        all_launched = time.monotonic()
        # They answer while every start still waits: a ternd that held
        # its thread for a start would answer them only after one (the
        # fake terns take DELAY s), so the property is the order, not a
        # duration (the sanitizer build on a loaded test host takes
        # seconds for a listing).
        listing, took = timed(lambda: h.listing("--all"))
        info, took_info = timed(lambda: h.info("vm0"))
        answered = time.monotonic()
        assert info["reason"] == "starting", info
        # A VM being started cannot be started twice, nor shut down yet.
        h.fails("start", "vm1", words=["already running"])
        h.fails("shutdown", "vm1", words=["starting"])
        h.fails("pause", "vm1", words=["starting"])
        h.fails("undefine", "vm2", words=["destroy"])
        open(gate_of(h), "w").close()
        for t in threads:
            t.join(timeout=60)
        for name in names:
            assert results[name].returncode == 0, (name, results[name].stderr)
            assert f"VM '{name}' started" in results[name].stdout, results[name].stdout
            info = h.info(name)
            assert info["state"] == "running" and info["reason"] == "started", info
        # At once: every VM was launched before any start was answered
        # (one at a time, the first answers before the second launches).
        # How long they took in all says little: the fake terns' Python
        # start-up is CPU-bound on a loaded test host.
        assert min(finished.values()) > all_launched, \
            f"a start answered before all {COUNT} were launched"
        assert min(finished.values()) > answered, \
            f"list ({took:.2f} s) and info ({took_info:.2f} s) answered only " \
            "after a start did"
        started = [e["name"] for e in h.events() if e["kind"] == "started"]
        assert sorted(started) == sorted(names), started
        for name in names:
            h.ok("destroy", name)
        h.stop()


@test
def a_start_that_fails_or_is_destroyed_answers_and_leaves_the_vm_shut_off():
    with Host() as h:
        fail_dir = os.path.join(h.dir, "fail")
        os.makedirs(fail_dir)
        open(os.path.join(fail_dir, "bad"), "w").close()
        start_fake(h, env={"FAKE_TERN_DELAY_FAIL": fail_dir, "FAKE_TERN_GATE": gate_of(h)})
        for name in ("bad", "gone", "good"):
            h.define(name)
        threads, results = started_in_threads(h, ["bad", "gone", "good"])
        wait_until(lambda: h.info("gone")["reason"] == "starting", timeout=30,
                   what="gone launched")
        h.ok("destroy", "gone")
        open(gate_of(h), "w").close()
        for t in threads:
            t.join(timeout=60)
        assert results["good"].returncode == 0, results["good"].stderr
        bad = results["bad"]
        assert bad.returncode == 1 and "failed to start" in bad.stderr \
            and "told to fail" in bad.stderr, bad.stderr
        gone = results["gone"]
        assert gone.returncode == 1 and "did not finish starting" in gone.stderr, gone.stderr
        for name in ("bad", "gone"):
            assert h.info(name)["state"] == "shut off", h.info(name)
        assert h.info("good")["state"] == "running"
        # Startable again once shut off.
        h.ok("start", "gone")
        h.ok("destroy", "gone")
        h.ok("destroy", "good")
        h.stop()


@test
def start_with_wait_false_answers_202_at_once():
    with Host() as h:
        start_fake(h, env={"FAKE_TERN_GATE": gate_of(h)})
        h.define("quick")
        api = h.api()
        # Answered while the tern cannot come up (its gate is shut): a
        # ternd that waited would answer only after its start limit.
        status, body = api.request("POST", "/v1/vms/quick/start?wait=false")
        assert status == 202, (status, body)
        doc = body
        assert doc["state"] == "running" and doc["reason"] == "starting", doc
        open(gate_of(h), "w").close()
        wait_until(lambda: h.info("quick")["reason"] == "started", timeout=DELAY + 20,
                   what="quick started")
        assert [e for e in h.events() if e["kind"] == "started" and e["name"] == "quick"]
        status, body = api.request("POST", "/v1/vms/quick/start?wait=maybe")
        assert status == 400, (status, body)
        h.ok("destroy", "quick")
        h.stop()


@test
def kill9_while_vms_start_next_ternd_finishes_or_cleans_them():
    with Host() as h:
        fail_dir = os.path.join(h.dir, "fail")
        os.makedirs(fail_dir)
        gate = gate_of(h)
        env = {"FAKE_TERN_DELAY_FAIL": fail_dir, "FAKE_TERN_GATE": gate}
        start_fake(h, env=env)
        for name in ("a", "b", "c"):
            h.define(name)
        threads, results = started_in_threads(h, ["a", "b", "c"])
        wait_until(lambda: all(h.info(n)["reason"] == "starting" for n in ("a", "b", "c")),
                   timeout=30, what="all launched")
        pids = {n: h.info(n)["pid"] for n in ("a", "b", "c")}
        # Each has become "tern" (the fake's `python3 run ...`, see
        # fake_tern.py): what a re-attaching ternd recognises.
        wait_until(lambda: sorted(h.tern_pids()) == sorted(pids.values()),
                   timeout=30, what="the terns running")
        # c's tern will fail once the gate opens, with no ternd there.
        open(os.path.join(fail_dir, "c"), "w").close()
        h.kill9()
        for t in threads:
            t.join(timeout=30)
        for name in ("a", "b", "c"):
            assert results[name].returncode != 0, results[name].stdout
        # The next ternd, before the terns answer: it adopts the starts.
        start_fake(h, env=env)
        assert all(h.info(n)["reason"] == "starting" for n in ("a", "b", "c"))
        open(gate, "w").close()
        wait_until(lambda: h.info("a")["reason"] != "starting"
                   and h.info("b")["reason"] != "starting"
                   and h.info("c")["state"] == "shut off",
                   timeout=DELAY + 20, what="the starts seen through")
        for name in ("a", "b"):
            info = h.info(name)
            assert info["state"] == "running" and info["pid"] == pids[name], info
            assert "started" in info["reason"], info
        assert h.info("c")["state"] == "shut off"
        kinds = [(e["name"], e["kind"]) for e in h.events()]
        assert ("a", "started") in kinds and ("b", "started") in kinds, kinds
        assert ("c", "started") not in kinds, kinds
        assert sorted(h.tern_pids()) == sorted([pids["a"], pids["b"]])
        h.ok("destroy", "a")
        h.ok("destroy", "b")
        h.stop()


@test
def ternd_stopped_while_a_vm_starts_answers_and_the_next_ternd_adopts_it():
    with Host() as h:
        gate = gate_of(h)
        start_fake(h, env={"FAKE_TERN_GATE": gate})
        h.define("slow")
        threads, results = started_in_threads(h, ["slow"])
        wait_until(lambda: h.info("slow")["reason"] == "starting", timeout=30,
                   what="slow launched")
        pid = h.info("slow")["pid"]
        # What a re-attaching ternd recognises as tern (fake_tern.py).
        wait_until(lambda: h.tern_pids() == [pid], timeout=30,
                   what="the tern running")
        h.stop()  # SIGTERM: exits 0 (and, under ASan, without a leak)
        threads[0].join(timeout=30)
        stopped = results["slow"]
        assert stopped.returncode == 1 and "ternd is stopping" in stopped.stderr, stopped.stderr
        start_fake(h, env={"FAKE_TERN_GATE": gate})
        assert h.info("slow")["reason"] == "starting"
        open(gate, "w").close()
        wait_until(lambda: h.info("slow")["reason"] != "starting", timeout=DELAY + 20,
                   what="the start seen through")
        info = h.info("slow")
        assert info["state"] == "running" and info["pid"] == pid, info
        h.ok("destroy", "slow")
        h.stop()


def setup():
    for path in (TERND, TERNCTL):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: the build failed"
    if not os.path.exists(GUEST):
        return f"{GUEST} is missing: make guests"
    return None


if __name__ == "__main__":
    main(setup)
