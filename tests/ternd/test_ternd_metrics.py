#!/usr/bin/python3
"""ternd's one Prometheus endpoint (GET /v1/metrics, ternctl metrics,
--metrics-listen): ternd's own families and every running or paused VM's
tern's, labelled vm="NAME", each family's HELP and TYPE once, read with a
strict parser (prom_text.py); a VM whose tern is stopped (SIGSTOP) costs
the scrape at most its deadline and shows ternd_vm_scrape_up 0.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test  # noqa: E402
from apiclient import Api  # noqa: E402
from ternd_host import main, TERN, TERND, Host, setup  # noqa: E402
import prom_text  # noqa: E402

# ternd's deadline for the slowest VM (VM_SCRAPE_TIMEOUT_MS), and what a
# scrape with a stopped VM may take in all on a loaded test host.
DEADLINE_S = 1.0
SLACK_S = 1.5


def scrape(h):
    """ternctl metrics, parsed strictly; and how long it took."""
    began = time.monotonic()
    text = h.ok("metrics")
    took = time.monotonic() - began
    return prom_text.parse(text), text, took


def vms_of(families):
    """The vm label of every sample of a tern_ family."""
    seen = set()
    for fam in families.values():
        if fam.name.startswith("tern_"):
            for _, labels, _ in fam.samples:
                assert "vm" in labels, f"{fam.name}: a sample without vm"
                seen.add(labels["vm"])
    return seen


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@test
def two_running_vms_a_paused_one_labelled_families_once():
    with Host() as h:
        port = free_port()
        h.start(args=["--metrics-listen", str(port)])
        for name in ("web", "db", "idle", "off"):
            h.define(name)
        for name in ("web", "db", "idle"):
            h.ok("start", name)
        h.ok("pause", "idle")

        families, text, _ = scrape(h)
        assert prom_text.value(families, "ternd_vms", state="running") == 2
        assert prom_text.value(families, "ternd_vms", state="paused") == 1
        assert prom_text.value(families, "ternd_vms", state="shut off") == 1
        assert prom_text.value(families, "ternd_vm_start_seconds_count") == 3
        assert prom_text.value(families, "ternd_vm_start_seconds_bucket", le="+Inf") == 3
        assert families["ternd_vm_start_seconds"].type == "histogram"
        assert prom_text.samples(families, "ternd_info")[0][1]["version"]
        events = h.events()
        assert prom_text.value(families, "ternd_events_total") == events[-1]["id"]
        assert prom_text.value(families, "ternd_api_requests_total", code="2xx") >= 8
        for name in ("web", "db", "idle"):
            assert prom_text.value(families, "ternd_vm_scrape_up", vm=name) == 1, name
        assert not prom_text.samples(families, "ternd_vm_scrape_up", vm="off")
        # Every VM's families, labelled, once each (the parser refuses a
        # second HELP/TYPE and a family split in two).
        assert vms_of(families) == {"web", "db", "idle"}
        assert text.count("# TYPE tern_vm_running ") == 1
        assert text.count("# HELP tern_vcpu_exits_total ") == 1
        for name in ("web", "db", "idle"):
            assert prom_text.samples(families, "tern_uptime_seconds", vm=name), name
        # The paused VM's gauge is its tern's own.
        own = prom_text.parse(Api(h.info("idle")["api_socket"]).get("/metrics")[1])
        assert prom_text.value(families, "tern_vm_running", vm="idle") == \
            prom_text.value(own, "tern_vm_running")
        assert prom_text.value(families, "tern_vm_running", vm="web") == 1

        # The same document on the TCP port, for Prometheus; nothing else
        # is served there.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            tcp = prom_text.parse(r.read().decode())
        assert vms_of(tcp) == {"web", "db", "idle"}
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/vms", timeout=10)
            raise AssertionError("the metrics port served /v1/vms")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        # And on the API socket, with its content type.
        status, body = Api(h.sock).get("/v1/metrics")
        assert status == 200 and "ternd_vm_scrape_up" in body
        Api(h.sock).fault("POST", "/v1/metrics", status=405)

        h.ok("destroy", "web")
        families, _, _ = scrape(h)
        assert vms_of(families) == {"db", "idle"}
        h.stop()


@test
def a_stopped_tern_does_not_hold_the_scrape():
    with Host() as h:
        h.start()
        for name in ("a", "b", "stuck1", "stuck2"):
            h.define(name)
            h.ok("start", name)
        stopped = [h.info(name)["pid"] for name in ("stuck1", "stuck2")]
        try:
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            families, _, took = scrape(h)
            # Both stuck VMs together cost one deadline, not two.
            assert DEADLINE_S * 0.8 <= took < DEADLINE_S + SLACK_S, took
            for name in ("stuck1", "stuck2"):
                assert prom_text.value(families, "ternd_vm_scrape_up", vm=name) == 0
                assert prom_text.value(families, "ternd_vm_scrape_duration_seconds",
                                       vm=name) >= DEADLINE_S * 0.9
            for name in ("a", "b"):
                assert prom_text.value(families, "ternd_vm_scrape_up", vm=name) == 1
            assert vms_of(families) == {"a", "b"}
            assert "metrics: VM 'stuck1': no answer within the deadline" in h.stderr()
            # ternd answers other requests meanwhile and after.
            assert set(h.listing()) == {"a", "b", "stuck1", "stuck2"}
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        families, _, took = scrape(h)
        assert took < DEADLINE_S, took
        assert vms_of(families) == {"a", "b", "stuck1", "stuck2"}
        for name in ("stuck1", "stuck2"):
            assert prom_text.value(families, "ternd_vm_scrape_up", vm=name) == 1
        h.stop()


FAKE_TERN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_tern.py")

GOOD = ("# HELP tern_vm_running 1 while running\n# TYPE tern_vm_running gauge\n"
        "tern_vm_running 1\n# TYPE tern_net_rx_frames_total counter\n"
        'tern_net_rx_frames_total{id="eth0"} 42\n')
HOSTILE = {
    "forger": 'tern_vm_running{vm="good"} 0\n',
    "impostor": "ternd_vms{state=\"running\"} 100\n",
    "retyper": "# TYPE tern_vm_running counter\ntern_vm_running 1\n",
    "escaper": 'tern_x{a="\\q"} 1\n',
    "injector": 'tern_x{a="1"} 1\n# TYPE tern_x gauge\n',
    "giant": "tern_big 1\n" + "# " + "x" * (1 << 20) + "\n",
    "garbage": "\x00\x01 not metrics\n",
}


@test
def hostile_metrics_from_a_vm_are_refused_whole():
    """Fake terns (tests/ternd/fake_tern.py) export what the test writes:
    one good, the others each hostile in one way. The hostile ones are
    left out whole with scrape_up 0; the good one is untouched."""
    with Host() as h:
        texts = os.path.join(h.dir, "texts")
        os.makedirs(texts)
        with open(os.path.join(texts, "good"), "w") as f:
            f.write(GOOD)
        for name, text in HOSTILE.items():
            with open(os.path.join(texts, name), "w") as f:
                f.write(text)
        h.start(args=["--tern", FAKE_TERN], env={"FAKE_TERN_METRICS": texts})
        for name in ["good"] + list(HOSTILE):
            h.define(name, kernel="/nonexistent")
            h.ok("start", name)
        families, text, _ = scrape(h)
        assert prom_text.value(families, "ternd_vm_scrape_up", vm="good") == 1
        for name in HOSTILE:
            assert prom_text.value(families, "ternd_vm_scrape_up", vm=name) == 0, name
            assert f"metrics: VM '{name}': " in h.stderr(), name
        assert vms_of(families) == {"good"}
        assert families["tern_vm_running"].type == "gauge"
        assert prom_text.value(families, "tern_vm_running", vm="good") == 1
        assert prom_text.value(families, "tern_net_rx_frames_total", vm="good", id="eth0") == 42
        assert prom_text.value(families, "ternd_vms", state="running") == 1 + len(HOSTILE)
        assert "tern_x" not in families and "tern_big" not in families
        # A VM whose tern answers GET /metrics with an error.
        os.unlink(os.path.join(texts, "good"))
        families, _, _ = scrape(h)
        assert prom_text.value(families, "ternd_vm_scrape_up", vm="good") == 0
        assert "GET /metrics answered status 500" in h.stderr()
        for name in ["good"] + list(HOSTILE):
            h.ok("destroy", name)
        h.stop()


def ternd_alone(h, listen):
    """ternd on h with --metrics-listen listen, to see it refused."""
    return subprocess.run([TERND, "--foreground", "--state-dir", h.state, "--socket", h.sock,
                           "--tern", TERN, "--metrics-listen", listen],
                          capture_output=True, text=True, timeout=30)


@test
def a_bad_metrics_listen_is_refused():
    with Host() as h:
        for bad, words in (("localhost:80", "not an IPv4 address"),
                           ("70000", "the port is 1 to 65535"),
                           ("::1:80", "brackets")):
            r = ternd_alone(h, bad)
            assert r.returncode == 2, (bad, r.returncode, r.stderr)
            assert words in r.stderr, (bad, r.stderr)
        # A port taken: a clear error, not a ternd without its port.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            r = ternd_alone(h, f"127.0.0.1:{s.getsockname()[1]}")
            assert r.returncode == 1 and "Address already in use" in r.stderr, r.stderr


if __name__ == "__main__":
    main(setup)
