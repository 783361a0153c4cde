#!/usr/bin/python3
"""A stand-in for tern that ternd can start (`ternd --tern
tests/ternd/fake_tern.py`): `run ... --api-sock S ...` serves GET / as a
running VM and GET /metrics with the text in $FAKE_TERN_METRICS/NAME
(NAME: the VM, from S's directory), read at each request, so a test
chooses what each "VM" exports, hostile text included, without KVM."""
import http.server
import os
import signal
import socketserver
import sys


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


def main():
    argv = sys.argv[1:]
    sock = argv[argv.index("--api-sock") + 1]
    if os.path.exists(sock):
        os.unlink(sock)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    Server(sock, Handler).serve_forever()


if __name__ == "__main__":
    main()
