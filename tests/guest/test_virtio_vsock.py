#!/usr/bin/python3
"""virtio-vsock (--vsock cid=N,socket=PATH) with the stock Debian guest's
vmw_vsock_virtio_transport, run inside the nested test host. The guest side
is guest/tools/vsock.c (tern-vsock listen PORT / connect CID PORT); the host
side is this script, speaking the Unix-socket protocol: CONNECT <port>\\n and
OK <host port>\\n on PATH for host-initiated connections, PATH_<port> for
guest-initiated ones. A 1 MiB payload in each direction crosses tern's and
the guest's 256 KiB credit several times, so it needs CREDIT_UPDATEs."""
import hashlib
import os
import re
import socket
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
import guestlib  # noqa: E402

CID = 7
ECHO_PORT = 1234
HOST_PORT = 5000
MIB = 1024 * 1024
TERN_WARNING = re.compile(r"tern: \[[^\]]*\] (warning|error)")
WORK = tempfile.mkdtemp(prefix="tern-vsock-")


def vsock_guest(path, **kwargs):
    return guestlib.Guest(extra=["--vsock", f"cid={CID},socket={path}"] + kwargs.pop("extra", []),
                          **kwargs)


def socket_path(name):
    return os.path.join(WORK, name)


def shell(guest, command):
    """guest.shell() for a short command: the guest console wraps lines
    near 80 columns, and a wrapped echo hides guestlib's end marker."""
    assert len(command) <= 50, command
    return guest.shell(command)


def load_driver(guest):
    shell(guest, "modprobe virtio_pci")
    shell(guest, "modprobe vmw_vsock_virtio_transport")
    device = shell(guest, "cat /sys/bus/virtio/devices/*/device")
    assert "0x0013" in device, device


def start_echo_server(guest, port=ECHO_PORT):
    shell(guest, f"(tern-vsock listen {port} >/tmp/l.log 2>&1 &)")
    for _ in range(50):
        if "listening" in shell(guest, "cat /tmp/l.log"):
            return
        shell(guest, "sleep 0.1")
    raise AssertionError("the guest echo server did not start: " +
                         shell(guest, "cat /tmp/l.log"))


def read_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line


def host_connect(path, port, timeout=60):
    """Connects through tern's Unix socket to the guest's port; returns the
    socket and tern's answer line."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    sock.sendall(f"CONNECT {port}\n".encode())
    return sock, read_line(sock)


def round_trip(sock, payload):
    """Sends payload while a thread reads the echo back; returns it."""
    received = []

    def reader():
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received.append(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the echo never ended"
    return b"".join(received)


@test
def host_connects_to_a_guest_echo_server():
    path = socket_path("h2g.sock")
    with vsock_guest(path, cpus=2) as guest:
        load_driver(guest)
        start_echo_server(guest)
        sock, answer = host_connect(path, ECHO_PORT)
        assert re.fullmatch(rb"OK \d+\n", answer), answer
        echoed = round_trip(sock, b"hello from the host\n")
        sock.close()
        assert echoed == b"hello from the host\n", echoed
        assert not TERN_WARNING.search(guest.transcript())
        assert guest.reboot() == 0
    assert not os.path.exists(path), "tern left its socket behind"


@test
def a_mebibyte_round_trips_host_to_guest_with_credit_updates():
    path = socket_path("big.sock")
    payload = os.urandom(MIB)
    with vsock_guest(path, cpus=2) as guest:
        load_driver(guest)
        start_echo_server(guest)
        sock, answer = host_connect(path, ECHO_PORT)
        assert answer.startswith(b"OK "), answer
        echoed = round_trip(sock, payload)
        sock.close()
        assert len(echoed) == MIB, len(echoed)
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
        assert guest.reboot() == 0


class HostEchoServer:
    """Listens on PATH_<port> as a host program would and echoes every
    connection (one at a time) until stopped. family/address other than a
    Unix path serve tests/diagnostics/guest_stalls.py's AF_VSOCK listener
    for QEMU's vhost-vsock."""

    def __init__(self, path, family=socket.AF_UNIX):
        self.server = socket.socket(family, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.server.settimeout(0.5)
        self.connections = 0
        self.stopped = False
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.server.accept()
            except socket.timeout:
                continue
            self.connections += 1
            conn.settimeout(120)
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=10)
        self.server.close()


@test
def guest_connects_to_a_host_unix_socket():
    path = socket_path("g2h.sock")
    server = HostEchoServer(f"{path}_{HOST_PORT}")
    try:
        with vsock_guest(path, cpus=2) as guest:
            load_driver(guest)
            out = shell(guest, f"echo ping | tern-vsock connect 2 {HOST_PORT}")
            assert out == "ping", out
            shell(guest, "head -c 1048576 /dev/urandom >/tmp/blob")
            sent = shell(guest, "sha256sum </tmp/blob").split()[0]
            got = shell(guest, f"tern-vsock connect 2 {HOST_PORT} </tmp/blob >/tmp/back")
            assert got == "", got
            assert shell(guest, "wc -c </tmp/back") == str(MIB)
            assert shell(guest, "sha256sum </tmp/back").split()[0] == sent
            assert server.connections == 2, server.connections
            assert not TERN_WARNING.search(guest.transcript())
            assert guest.reboot() == 0
    finally:
        server.stop()


@test
def refusals_reach_both_sides():
    path = socket_path("refuse.sock")
    with vsock_guest(path, cpus=1) as guest:
        load_driver(guest)
        # Nothing listens on PATH_5001: the guest gets RST, connect fails.
        out = shell(guest, "tern-vsock connect 2 5001 </dev/null; echo rc=$?")
        assert "rc=1" in out and "connect 2:5001" in out, out
        # Nothing listens on guest port 999: tern closes the host client
        # without an OK line.
        sock, answer = host_connect(path, 999)
        assert answer == b"", answer
        sock.close()
        # A line that is not CONNECT closes the client too.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(path)
        sock.sendall(b"HELLO\n")
        assert sock.recv(16) == b""
        sock.close()
        # The device still works afterwards.
        start_echo_server(guest)
        sock, answer = host_connect(path, ECHO_PORT)
        assert answer.startswith(b"OK "), answer
        assert round_trip(sock, b"still alive") == b"still alive"
        sock.close()
        assert guest.reboot() == 0


@test
def vsock_over_virtio_mmio_and_reboot_with_an_open_connection():
    path = socket_path("mmio.sock")
    with vsock_guest(path, cpus=1, extra=["--transport", "mmio"]) as guest:
        shell(guest, "modprobe virtio_mmio")
        shell(guest, "modprobe vmw_vsock_virtio_transport")
        assert shell(guest, "cat /sys/bus/virtio/devices/*/device") == "0x0013"
        start_echo_server(guest)
        sock, answer = host_connect(path, ECHO_PORT)
        assert answer.startswith(b"OK "), answer
        sock.sendall(b"over mmio")
        echoed = b""
        while len(echoed) < 9:
            chunk = sock.recv(64)
            assert chunk, echoed
            echoed += chunk
        assert echoed == b"over mmio", echoed
        # The connection is still open when the guest reboots: tern ends
        # it, exits 0, and the host client sees the end of the stream.
        assert guest.reboot() == 0
        assert sock.recv(64) == b""
        sock.close()
        assert not TERN_WARNING.search(guest.transcript())


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
