#!/usr/bin/python3
"""MMDS round trip from inside the guest: busybox wget of one key from
169.254.169.254 (answered by tern itself, the frames never reach the tap),
beside the same wget of the same bytes from a Python HTTP server on the
tap's host end (the guest's network path to a real server through the tap
and the host's stack). Also V2's token: PUT /latest/api/token through
busybox nc. The guest's own cost of a loop turn (busybox cat of a file:
the process start that dominates under emulation) is printed beside. Every
figure is by the guest's clock (/proc/uptime around a
loop of N requests), so the serial console's round trips are not counted.

Runs in the nested test host (no /dev/kvm here: it starts the test host
itself). Firecracker publishes no MMDS latency to compare with; the host
server is the baseline, as the ratio against it.

usage: bench/api/mmds.py [REQUESTS]   (default 50)"""
import contextlib
import os
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, os.path.join(ROOT, "tests", "guest"))
from apiclient import wait_for_socket  # noqa: E402
from test_mmds import MMDS, mmds_guest, netns_with_taps, guest_network  # noqa: E402

HOST = "10.0.2.1"
VALUE = "ami-12345678"

# The baseline server: one key, the same bytes MMDS answers, HTTP/1.1
# with Connection: close as MMDS's answers to busybox wget.
SERVER = textwrap.dedent("""
    import http.server, sys
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            body = sys.argv[2].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.HTTPServer((sys.argv[1], 8080), Handler).serve_forever()
""")


def loop_ms(guest, count, command):
    """Milliseconds per run of command over count runs, by the guest's
    clock; every run must print VALUE (checked on the last)."""
    out = guest.shell(f"a=$(cut -d' ' -f1 /proc/uptime); i=0; while [ $i -lt {count} ]; "
                      f"do r=$({command}); i=$((i+1)); done; "
                      "b=$(cut -d' ' -f1 /proc/uptime); echo \"$r T=$a T=$b\"",
                      timeout=600)
    last, _, marks = out.rpartition(" T=")
    body, _, first = last.rpartition(" T=")
    assert VALUE in body, out
    return (float(marks) - float(first)) * 1000 / count


@contextlib.contextmanager
def host_server(ns):
    proc = subprocess.Popen(ns + [sys.executable, "-c", SERVER, HOST, VALUE],
                            stdin=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.kill()
        proc.wait(timeout=10)


def inner(count):
    work = tempfile.mkdtemp(prefix="tern-bench-mmds-")
    with netns_with_taps([("tap0", f"{HOST}/24")]) as ns, host_server(ns):
        guest, api, sock = mmds_guest(ns, work, {"network_interfaces": ["eth0"]})
        with guest:
            wait_for_socket(sock)
            api.ok("PUT", "/mmds", {"latest": {"meta-data": {"ami-id": VALUE}}})
            guest_network(guest)
            wget = "wget -q -O - http://{}/latest/meta-data/ami-id 2>&1"
            token = ("printf 'PUT /latest/api/token HTTP/1.1\\r\\n"
                     "X-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' | "
                     f"nc -w 5 {MMDS} 80 | grep -c ttl; echo {VALUE}")
            # Warm both paths (ARP, the server's first accept) once.
            loop_ms(guest, 2, wget.format(MMDS))
            loop_ms(guest, 2, wget.format(f"{HOST}:8080"))
            guest.shell(f"echo {VALUE} > /tmp/value")
            rows = []
            for _ in range(3):  # interleaved, so all see the same host load
                rows.append((loop_ms(guest, count, wget.format(MMDS)),
                             loop_ms(guest, count, wget.format(f"{HOST}:8080")),
                             loop_ms(guest, count, token),
                             loop_ms(guest, count, "cat /tmp/value")))
            assert guest.reboot() == 0
    print(f"MMDS round trip from the guest, {count} requests per figure, 3 rounds "
          "(ms per request, guest clock)")
    print("| round | MMDS GET (tern) | host HTTP server GET over the tap | MMDS / host | "
          "V2 token PUT (tern, nc) | guest's own cost: cat of a file |")
    print("|---|---|---|---|---|---|")
    for i, (mmds, host, put, spawn) in enumerate(rows, 1):
        print(f"| {i} | {mmds:.2f} | {host:.2f} | {mmds / host:.2f} | {put:.2f} | "
              f"{spawn:.2f} |")
    return 0


def main():
    count = int(sys.argv[-1]) if len(sys.argv) > 1 and sys.argv[-1].isdigit() else 50
    if "--inner" in sys.argv:
        return inner(count)
    if os.path.exists("/dev/kvm"):
        return inner(count)
    subprocess.run(["make", "-s", "build/tern"], cwd=ROOT, check=True)
    return subprocess.run(["testhost/run.sh", "--timeout", "1500", "--",
                           "/usr/bin/python3", "-u", os.path.abspath(__file__), "--inner",
                           str(count)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
