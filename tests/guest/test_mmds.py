#!/usr/bin/python3
"""The MMDS from inside the stock Debian guest, in the nested test host: tern
answers the guest's HTTP requests to 169.254.169.254 on the interface
mmds-config names (the frames never reach the tap). Each test boots one
guest from a config file (boot source, an interface on a tap in a fresh
network namespace, mmds-config) with the API socket open, fills the data
store with PUT /mmds after boot, and reads it with busybox wget:

- V1: keys as IMDS text and as JSON (Accept: application/json), an object's
  listing, a value longer than one TCP segment, a PATCH seen at once, a
  missing key (404);
- V2: no token and a made-up token are 401 with Firecracker's messages, a
  token from PUT /latest/api/token (busybox wget has no PUT: busybox nc with
  a written request) opens the reads, imds_compat keeps IMDS text whatever
  the Accept header says."""
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

MMDS = "169.254.169.254"
MAC = "aa:fc:00:00:00:01"
LONG = "".join(chr(ord("a") + i % 26) for i in range(4000))  # > 2 segments
DATA = {"latest": {"meta-data": {"ami-id": "ami-12345678",
                                 "reservation-id": "r-fea54097",
                                 "network": {"mac": MAC},
                                 "long": LONG,
                                 "cpus": 2}}}


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60,
                          stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def netns_with_taps(taps):
    """As test_virtio_net.py's: a namespace held by `unshare --net sleep`,
    its taps deleted and the holder killed at the end."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    ns = ["nsenter", f"--net=/proc/{holder.pid}/ns/net"]
    try:
        own = os.readlink("/proc/self/ns/net")
        for _ in range(100):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("unshare --net did not make a namespace")
        for name, address in taps:
            sh(*ns, "ip", "tuntap", "add", name, "mode", "tap")
            sh(*ns, "ip", "addr", "add", address, "dev", name)
            sh(*ns, "ip", "link", "set", name, "up")
        yield ns
    finally:
        for name, _ in taps:
            sh(*ns, "ip", "link", "del", name, check=False)
        holder.kill()
        holder.wait(timeout=10)


def mmds_guest(ns, work, mmds_config):
    p = guestlib.paths()
    config = {
        "boot-source": {"kernel_image_path": p["GUEST_BZIMAGE"],
                        "initrd_path": p["GUEST_INITRAMFS"],
                        "boot_args": "console=ttyS0 reboot=k quiet"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0",
                                "guest_mac": MAC}],
        "mmds-config": mmds_config,
    }
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    sock = os.path.join(work, "api.sock")
    return guestlib.Guest(extra=["--config-file", path, "--api-sock", sock],
                          wrapper=ns), Api(sock), sock


def guest_network(guest):
    out = guest.shell("modprobe virtio_pci && modprobe virtio_net && echo loaded")
    assert out.endswith("loaded"), out
    guest.shell("for i in $(seq 50); do ls /sys/class/net | grep -q eth && break; sleep 0.2; "
                "done")
    iface = guest.shell(f"grep -l {MAC} /sys/class/net/*/address").split("/")[-2]
    out = guest.shell(f"ip link set {iface} up && ip addr add 10.0.2.15/24 dev {iface} && "
                      f"ip route add {MMDS} dev {iface} && echo up")
    assert out.endswith("up"), out


def wget(guest, path, *headers):
    """The body, or the error wget printed, and its exit status. (Debian's
    busybox 1.35 wget crashes with -T: timeout bounds it instead.)"""
    hdr = "".join(f" --header '{h}'" for h in headers)
    out = guest.shell(f"timeout 30 wget -q -O - {hdr} http://{MMDS}/{path} 2>&1; "
                      "echo \"\nrc=$?\"", timeout=90)
    body, _, rc = out.rpartition("\nrc=")
    return body.rstrip("\n"), int(rc)


def put_token(guest, ttl):
    """PUT /latest/api/token through busybox nc: the whole answer."""
    request = (f"PUT /latest/api/token HTTP/1.1\\r\\nHost: {MMDS}\\r\\n"
               f"X-metadata-token-ttl-seconds: {ttl}\\r\\nConnection: close\\r\\n\\r\\n")
    # The body ends without a newline: echo gives shell() its line end.
    return guest.shell(f"printf '{request}' | nc -w 20 {MMDS} 80; echo", timeout=90)


@test
def v1_reads_keys_as_text_and_json():
    work = tempfile.mkdtemp(prefix="tern-mmds-")
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        guest, api, sock = mmds_guest(ns, work, {"network_interfaces": ["eth0"]})
        with guest:
            wait_for_socket(sock)
            api.ok("PUT", "/mmds", DATA)
            guest_network(guest)
            body, rc = wget(guest, "latest/meta-data/ami-id")
            assert (body, rc) == ("ami-12345678", 0), (body, rc)
            body, rc = wget(guest, "latest/meta-data/")
            assert (body, rc) == ("ami-id\ncpus\nlong\nnetwork/\nreservation-id", 0), body
            body, rc = wget(guest, "latest/meta-data/network", "Accept: application/json")
            assert rc == 0 and json.loads(body) == {"mac": MAC}, body
            body, rc = wget(guest, "latest/meta-data/cpus", "Accept: application/json")
            assert (body, rc) == ("2", 0), body
            # Longer than the guest's MSS: several segments, in order.
            body, rc = wget(guest, "latest/meta-data/long")
            assert rc == 0 and body == LONG, (len(body), body[:80])
            api.ok("PATCH", "/mmds", {"latest": {"meta-data": {"ami-id": "ami-87654321"}}})
            body, rc = wget(guest, "latest/meta-data/ami-id")
            assert (body, rc) == ("ami-87654321", 0), body
            body, rc = wget(guest, "latest/meta-data/nothing-here")
            assert rc != 0 and "404" in body, body
            # V1 answers without a token and counts it.
            assert guest.reboot() == 0


@test
def v2_needs_a_session_token():
    work = tempfile.mkdtemp(prefix="tern-mmds-")
    with netns_with_taps([("tap0", "10.0.2.1/24")]) as ns:
        guest, api, sock = mmds_guest(ns, work, {"network_interfaces": ["eth0"],
                                                  "version": "V2", "imds_compat": True})
        with guest:
            wait_for_socket(sock)
            api.ok("PUT", "/mmds", DATA)
            status, config = api.get("/vm/config")
            assert config["mmds-config"] == {"version": "V2", "network_interfaces": ["eth0"],
                                             "ipv4_address": MMDS, "imds_compat": True}
            guest_network(guest)
            body, rc = wget(guest, "latest/meta-data/ami-id")
            assert rc != 0 and "401" in body, body
            body, rc = wget(guest, "latest/meta-data/ami-id", "X-metadata-token: made-up")
            assert rc != 0 and "401" in body, body
            answer = put_token(guest, 60)
            assert answer.startswith("HTTP/1.1 200"), answer
            assert re.search(r"(?im)^X-metadata-token-ttl-seconds: 60\r?$", answer), answer
            token = answer.strip().splitlines()[-1].strip()
            assert re.fullmatch(r"[A-Za-z0-9+/]{22}==", token), answer
            body, rc = wget(guest, "latest/meta-data/ami-id", f"X-metadata-token: {token}")
            assert (body, rc) == ("ami-12345678", 0), body
            # imds_compat: IMDS text even when JSON is asked for.
            body, rc = wget(guest, "latest/meta-data", f"X-metadata-token: {token}",
                            "Accept: application/json")
            assert (body, rc) == ("ami-id\ncpus\nlong\nnetwork/\nreservation-id", 0), body
            answer = put_token(guest, 0)
            assert "Invalid time to live value provided for token: 0." in answer, answer
            # Nothing of this reached the tap's host side as MMDS traffic:
            # the host has no 169.254.169.254 and answered nothing.
            assert guest.reboot() == 0


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    if os.environ.get("TERN_IN_TESTHOST") != "1":
        return "network tests run only inside the test host (testhost/run.sh)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun in the test host"
    return None


if __name__ == "__main__":
    run(setup)
