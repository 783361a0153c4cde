#!/usr/bin/python3
"""A stand-in for tern that ternd can start (`ternd --tern
tests/ternd/fake_tern.py`): `run ... --api-sock S ...` serves GET / as a
running VM and GET /metrics with the text in $FAKE_TERN_METRICS/NAME
(NAME: the VM, from S's directory), read at each request, so a test
chooses what each "VM" exports, hostile text included, without KVM.

$FAKE_TERN_DELAY seconds (default 0) pass before it listens: a VM that
takes that long to start (test_ternd_parallel_start.py); then, with
$FAKE_TERN_GATE set, it waits until that file exists, so a test decides
when the VMs come up instead of racing a delay; a file
$FAKE_TERN_DELAY_FAIL/NAME makes it exit with status 1 instead."""
import http.server
import os
import signal
import socketserver
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            self.reply(200, '{"id": "fake", "state": "Running"}', "application/json")
        elif self.path == "/metrics":
            name = os.path.basename(os.path.dirname(self.server.server_address))
            try:
                with open(os.path.join(os.environ["FAKE_TERN_METRICS"], name)) as f:
                    self.reply(200, f.read(), "text/plain; version=0.0.4")
            except OSError as e:
                self.reply(500, f'{{"fault_message": "{e.strerror}"}}', "application/json")
        else:
            self.reply(404, '{"fault_message": "no such path"}', "application/json")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def look_like_tern():
    """ternd re-attaches (and the tests count) only processes whose
    command line is `... run ... --api-sock S`: run again as `python3 run
    ...`, "run" a link to this file."""
    if os.path.basename(sys.argv[0]) == "run" or sys.argv[1:2] != ["run"]:
        return
    d = f"/tmp/fake-tern-{os.getuid()}"
    os.makedirs(d, exist_ok=True)
    # Always (re)point the link: one left by a checkout since deleted
    # would dangle, and every fake tern would fail to start. A private
    # name renamed over "run" is atomic for fake terns starting together.
    private = os.path.join(d, f"run.{os.getpid()}")
    os.symlink(os.path.abspath(__file__), private)
    os.replace(private, os.path.join(d, "run"))
    os.chdir(d)
    os.execv(sys.executable, [sys.executable, "run"] + sys.argv[2:])


def main():
    look_like_tern()
    argv = sys.argv[1:]
    sock = argv[argv.index("--api-sock") + 1]
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    time.sleep(float(os.environ.get("FAKE_TERN_DELAY", "0")))
    gate = os.environ.get("FAKE_TERN_GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    fail = os.environ.get("FAKE_TERN_DELAY_FAIL")
    if fail and os.path.exists(os.path.join(fail, os.path.basename(os.path.dirname(sock)))):
        print("fake tern: told to fail", file=sys.stderr)
        sys.exit(1)
    if os.path.exists(sock):
        os.unlink(sock)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    Server(sock, Handler).serve_forever()


if __name__ == "__main__":
    main()
