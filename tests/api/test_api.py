#!/usr/bin/python3
"""tern's API on this machine, without a bootable guest: configuration,
bad input of every class, wrong-state requests, many clients at once, a
slow client, oversized bodies, the socket's life cycle, the logger and the
metrics. A fake bzImage (headers only, zero code) lets InstanceStart create
and run a real VM on /dev/kvm: its vCPU spins without exits, so pausing
shows as tern's CPU use dropping to ~0.

TERN=build/asan/tern runs the same tests against the sanitizer build."""
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, skip, test  # noqa: E402
from apiclient import Api, fake_bzimage, parse_prometheus, wait_for_socket, needs_kvm, TernProcess  # noqa: E402
from tlskeys import TlsKeys  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, os.environ.get("TERN", "build/tern"))
WORK = tempfile.mkdtemp(prefix="tern-api-")


KERNEL = os.path.join(WORK, "kernel")


class Tern(TernProcess):
    """tern run --api-sock in the background; stderr kept for checks."""
    STOP_TIMEOUT = 20

    def __init__(self, *extra, wait=True, wrapper=()):
        super().__init__(TERN, WORK, *extra, wait=wait, wrapper=wrapper)


def started(*extra):
    t = Tern(*extra)
    t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
    t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
    return t


def setup():
    if not os.access(TERN, os.X_OK):
        return f"{TERN} is missing: the build failed"
    with open(KERNEL, "wb") as f:
        f.write(fake_bzimage())
    return None


@test
def describe_and_version_before_start():
    with Tern() as t:
        status, info = t.api.get("/")
        assert status == 200
        assert info["state"] == "Not started" and info["app_name"] == "tern"
        assert "vmm_version" in info and "id" in info
        status, version = t.api.get("/version")
        assert status == 200 and version["firecracker_version"]


@test
def machine_config_put_patch_get():
    with Tern() as t:
        status, machine = t.api.get("/machine-config")
        assert machine["vcpu_count"] == 1 and machine["mem_size_mib"] == 256
        t.api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 512,
                                             "smt": False, "cpu_template": "minimal"})
        t.api.ok("PATCH", "/machine-config", {"vcpu_count": 4})
        status, machine = t.api.get("/machine-config")
        assert (machine["vcpu_count"], machine["mem_size_mib"], machine["cpu_template"]) == \
            (4, 512, "minimal")
        # PUT resets what it leaves out but the template, as Firecracker's
        # does (a client may set a template, then the machine's size).
        t.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
        assert t.api.get("/machine-config")[1]["cpu_template"] == "minimal"
        t.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                             "cpu_template": "None"})
        assert t.api.get("/machine-config")[1]["cpu_template"] == "None"


@test
def machine_config_huge_pages():
    """Firecracker's three huge_pages values are kept and read back (the
    pool is looked at only when the VM starts); a size that is not whole
    2 MiB pages, or another value, is refused by name."""
    with Tern() as t:
        assert t.api.get("/machine-config")[1]["huge_pages"] == "None"
        for value in ("2M", "Transparent", "None"):
            t.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256,
                                                 "huge_pages": value})
            assert t.api.get("/machine-config")[1]["huge_pages"] == value
            assert t.api.get("/vm/config")[1]["machine-config"]["huge_pages"] == value
        t.api.ok("PATCH", "/machine-config", {"huge_pages": "2M"})
        t.api.fault("PATCH", "/machine-config", {"mem_size_mib": 255},
                    words=["machine-config.mem_size_mib", "multiple of 2 MiB", "huge_pages 2M"])
        t.api.fault("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256,
                                               "huge_pages": "1G"},
                    words=["machine-config.huge_pages '1G'", "None, Transparent or 2M"])
        machine = t.api.get("/machine-config")[1]
        assert (machine["mem_size_mib"], machine["huge_pages"]) == (256, "2M"), machine


@test
def cli_options_preconfigure_and_vm_config_round_trips():
    cmdline = "console=ttyS0 quiet"
    with Tern("--kernel", KERNEL, "--cpus", "3", "--memory", "384M", "--cmdline", cmdline,
              "--cpu-template", "x86-64-v2") as t:
        status, doc = t.api.get("/vm/config")
        assert status == 200
        assert doc["boot-source"] == {"kernel_image_path": KERNEL, "boot_args": cmdline}
        assert doc["machine-config"]["vcpu_count"] == 3
        assert doc["machine-config"]["mem_size_mib"] == 384
        assert doc["machine-config"]["cpu_template"] == "x86-64-v2"
        # Only what differs from tern's defaults (Firecracker's clients
        # validate the rest against its specification).
        assert doc["tern"] == {"serial": "none"}
        assert doc["entropy"] is None
        assert t.api.get("/")[1]["state"] == "Not started"   # waits for InstanceStart
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL, "initrd_path": KERNEL,
                                         "boot_args": "a=b"})
        doc2 = t.api.get("/vm/config")[1]
        assert doc2["boot-source"] == {"kernel_image_path": KERNEL, "initrd_path": KERNEL,
                                       "boot_args": "a=b"}
    # The exported document is a valid config file: same document back
    # (a config file boots the VM at once: it needs KVM).
    needs_kvm()
    path = os.path.join(WORK, "roundtrip.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    with Tern("--config-file", path, wait=False) as t2:
        wait_for_socket(t2.sock, t2.proc)
        doc3 = t2.api.get("/vm/config")[1]
        assert doc3 == doc, (doc3, doc)


@test
def malformed_json_is_refused():
    with Tern() as t:
        t.api.fault("PUT", "/machine-config", raw='{"vcpu_count": 2,', words=["malformed JSON"])
        t.api.fault("PUT", "/machine-config", raw="not json", words=["malformed JSON"])
        t.api.fault("PUT", "/machine-config", raw='{"vcpu_count": 1, "vcpu_count": 2}',
                    words=["malformed JSON"])
        t.api.fault("PUT", "/boot-source", raw="", words=["needs a JSON body"])
        t.api.fault("PUT", "/actions", raw="[]", words=["expected a JSON object"])


@test
def unknown_fields_wrong_types_ranges_and_missing_fields_are_refused():
    with Tern() as t:
        f = t.api.fault
        f("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256, "turbo": True},
          words=["machine-config", "unknown field 'turbo'"])
        f("PUT", "/machine-config", {"vcpu_count": "1", "mem_size_mib": 256},
          words=["machine-config.vcpu_count", "integer"])
        f("PATCH", "/machine-config", {"mem_size_mib": 1.5}, words=["mem_size_mib", "integer"])
        f("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 256},
          words=["vcpu_count 0", "not a positive"])
        f("PUT", "/machine-config", {"vcpu_count": 65, "mem_size_mib": 256}, words=["too many"])
        f("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 16}, words=["too small"])
        f("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 1 << 40},
          words=["mem_size_mib"])
        f("PUT", "/machine-config", {"vcpu_count": 3, "mem_size_mib": 256, "smt": True},
          words=["smt", "1 or even"])
        f("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "cpu_template": "V1N1"},
          words=["aarch64"])
        f("PUT", "/machine-config", {"vcpu_count": 2}, words=["mem_size_mib", "missing"])
        f("PUT", "/boot-source", {"boot_args": "x"}, words=["kernel_image_path", "missing"])
        f("PUT", "/boot-source", {"kernel_image_path": ""}, words=["kernel_image_path", "empty"])
        f("PUT", "/actions", {}, words=["action_type", "missing"])
        f("PUT", "/actions", {"action_type": "Reboot"}, words=["InstanceStart"])
        f("PUT", "/logger", {"level": "Loud"}, words=["logger.level"])
        f("PUT", "/metrics", {}, words=["metrics_path", "missing"])
        f("PUT", "/cpu-config", {"cpuid_modifiers": [{"leaf": "0x1"}]}, words=["cpuid_modifiers"])
        f("PATCH", "/vm", {"state": "Sleeping"}, words=["Paused or Resumed"])
        # Nothing refused changed the configuration.
        machine = t.api.get("/machine-config")[1]
        assert (machine["vcpu_count"], machine["mem_size_mib"]) == (1, 256)


@test
def invalid_paths_methods_and_ids_are_refused():
    with Tern() as t:
        t.api.fault("GET", "/nothing-here", words=["invalid request"])
        t.api.fault("DELETE", "/machine-config", words=["invalid request"])
        t.api.fault("GET", "/boot-source", words=["invalid request"])
        body = {"drive_id": "root", "is_root_device": True, "path_on_host": "/x",
                "is_read_only": False}
        t.api.fault("PUT", "/drives/bad-id!", body, words=["invalid id"])
        t.api.fault("PUT", "/drives/" + "a" * 65, body, words=["invalid id"])
        t.api.fault("PUT", "/drives/", body, words=["invalid id"])
        t.api.fault("PUT", "/drives/other", body, words=["differs"])


@test
def what_tern_lacks_answers_400_and_no_device_is_claimed():
    with Tern() as t:
        f = t.api.fault
        f("GET", "/balloon", words=["no balloon device"])
        f("PUT", "/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m"},
          words=["needs a paused VM", "Not started"])
        f("PATCH", "/mmds", {}, words=["not initialized"])
        # Nothing configured: the document has no device.
        doc = t.api.get("/vm/config")[1]
        assert doc["drives"] == [] and doc["network-interfaces"] == []
        assert doc["vsock"] is None and doc["balloon"] is None and doc["entropy"] is None


@test
def vsock_configured_before_start():
    needs_kvm()
    uds = os.path.join(WORK, "v.sock")
    with Tern() as t:
        f = t.api.fault
        f("PUT", "/vsock", {"guest_cid": 2, "uds_path": uds}, words=["guest_cid 2", "reserved"])
        f("PUT", "/vsock", {"guest_cid": 1 << 32, "uds_path": uds}, words=["guest_cid"])
        f("PUT", "/vsock", {"guest_cid": 3}, words=["uds_path", "missing"])
        f("PUT", "/vsock", {"guest_cid": 3, "uds_path": "/" + "u" * 100},
          words=["longer than 96 bytes"])
        assert t.api.get("/vm/config")[1]["vsock"] is None
        t.api.ok("PUT", "/vsock", {"guest_cid": 3, "uds_path": uds + "x", "vsock_id": "v"})
        t.api.ok("PUT", "/vsock", {"guest_cid": 7, "uds_path": uds})     # replaces it
        assert t.api.get("/vm/config")[1]["vsock"] == {"guest_cid": 7, "uds_path": uds}
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        f("PUT", "/vsock", {"guest_cid": 8, "uds_path": uds}, words=["before the VM"])
        # tern listens on uds_path; a host client's CONNECT waits for the
        # guest (which has no driver here) until tern gives up on it.
        s = socket.socket(socket.AF_UNIX)
        s.connect(uds)
        s.close()
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_vsock_connections_active", "")] == 0
        assert ("tern_virtio_requests_total", '{device="virtio-vsock",id="vsock0"}') in samples
    # The command line's --vsock in the same document.
    with Tern("--vsock", f"cid=9,socket={uds}") as t:
        assert t.api.get("/vm/config")[1]["vsock"] == {"guest_cid": 9, "uds_path": uds}


@test
def network_interfaces_configured_before_start():
    needs_kvm()
    # A network namespace of tern's own (it vanishes with tern): the taps
    # tern creates never touch this machine's interfaces.
    with Tern(wrapper=["unshare", "-n"]) as t:
        f = t.api.fault
        iface = {"iface_id": "eth0", "host_dev_name": "tap0"}
        f("PUT", "/network-interfaces/eth0", {"iface_id": "eth0"},
          words=["host_dev_name", "missing"])
        f("PUT", "/network-interfaces/eth0", dict(iface, guest_mac="01:00:5e:00:00:01"),
          words=["not a unicast MAC"])
        f("PUT", "/network-interfaces/eth0", dict(iface, host_dev_name="tap/0"), words=["tap/0"])
        f("PUT", "/network-interfaces/eth0",
          dict(iface, rx_rate_limiter={"ops": {"size": 10, "refill_time": -100}}),
          words=["rx_rate_limiter.ops.refill_time", "negative"])
        f("PUT", "/network-interfaces/eth0", dict(iface, mtu=20), words=["mtu", "minimum"])
        f("PUT", "/network-interfaces/eth1", iface, words=["differs"])
        assert t.api.get("/vm/config")[1]["network-interfaces"] == []
        t.api.ok("PUT", "/network-interfaces/eth0",
                 dict(iface, tx_rate_limiter={"ops": {"size": 10, "refill_time": 100}}))
        t.api.ok("PUT", "/network-interfaces/eth1", {"iface_id": "eth1", "host_dev_name": "tap1",
                                                     "guest_mac": "52:54:00:00:00:01"})
        f("PUT", "/network-interfaces/eth2", {"iface_id": "eth2", "host_dev_name": "tap0"},
          words=["tap tap0 named twice"])
        f("PUT", "/network-interfaces/eth2", {"iface_id": "eth2", "host_dev_name": "tap2",
                                              "guest_mac": "52:54:00:00:00:01"},
          words=["given twice"])
        nets = t.api.get("/vm/config")[1]["network-interfaces"]
        assert [n["iface_id"] for n in nets] == ["eth0", "eth1"], nets
        assert nets[0]["guest_mac"].startswith("52:54:00:")     # derived from the tap name
        assert nets[0]["tx_rate_limiter"] == {"ops": {"size": 10, "refill_time": 100}}, nets
        assert "rx_rate_limiter" not in nets[0], nets
        assert nets[1] == {"iface_id": "eth1", "host_dev_name": "tap1",
                           "guest_mac": "52:54:00:00:00:01"}
        patch = {"iface_id": "eth0", "rx_rate_limiter": {}}
        f("PATCH", "/network-interfaces/eth0", patch, words=["started VM"])
        f("PATCH", "/network-interfaces/eth9", dict(patch, iface_id="eth9"),
          words=["no network interface 'eth9'"])
        if not os.path.exists("/dev/net/tun"):
            return
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        f("PUT", "/network-interfaces/eth0", iface, words=["before the VM"])
        # Firecracker's PATCH: a bucket given replaces that bucket, one left
        # out stays, size 0 turns it off; the device takes it live.
        t.api.ok("PATCH", "/network-interfaces/eth0", patch)
        t.api.ok("PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0",
            "rx_rate_limiter": {"bandwidth": {"size": 1 << 20, "refill_time": 1000,
                                              "one_time_burst": 4096}},
            "tx_rate_limiter": {"bandwidth": {"size": 5000, "refill_time": 10}}})
        net = t.api.get("/vm/config")[1]["network-interfaces"][0]
        assert net["rx_rate_limiter"] == {"bandwidth": {"size": 1 << 20, "refill_time": 1000,
                                                        "one_time_burst": 4096}}, net
        assert net["tx_rate_limiter"] == {"bandwidth": {"size": 5000, "refill_time": 10},
                                          "ops": {"size": 10, "refill_time": 100}}, net
        t.api.ok("PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0", "tx_rate_limiter": {"ops": {"size": 0, "refill_time": 0}}})
        net = t.api.get("/vm/config")[1]["network-interfaces"][0]
        assert net["tx_rate_limiter"] == {"bandwidth": {"size": 5000, "refill_time": 10}}, net
        f("PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "mtu": 1400},
          words=["unknown field"])
        f("PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 1}}},
          words=["rx_rate_limiter.ops", "refill_time"])
        f("PATCH", "/network-interfaces/eth9", dict(patch, iface_id="eth9"),
          words=["no network interface 'eth9'"])
        samples = parse_prometheus(t.api.get("/metrics")[1])
        for iface_id in ("eth0", "eth1"):
            assert samples[("tern_virtio_requests_total",
                            f'{{device="virtio-net",id="{iface_id}"}}')] == 0
            assert samples[("tern_net_tx_dropped_total", f'{{id="{iface_id}"}}')] == 0


def disk_image(name, size=1 << 20):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@test
def drives_configured_before_start():
    needs_kvm()
    root, data = disk_image("root.img"), disk_image("data.img")
    with Tern() as t:
        f = t.api.fault
        drive = {"drive_id": "data", "path_on_host": data, "is_root_device": False,
                 "is_read_only": True}
        f("PUT", "/drives/data", {"drive_id": "data"}, words=["is_root_device", "missing"])
        f("PUT", "/drives/data", dict(drive, path_on_host=os.path.join(WORK, "none.img")),
          words=["No such file"])
        f("PUT", "/drives/data", dict(drive, cache_type="Fast"), words=["Unsafe, Writeback"])
        f("PUT", "/drives/data", dict(drive, io_engine="aio"), words=["io_engine"])
        f("PUT", "/drives/data", dict(drive, rate_limiter={"bandwidth": {"size": 1}}),
          words=["drives.rate_limiter.bandwidth", "refill_time"])
        f("PUT", "/drives/data", dict(drive, rate_limiter={"iops": {}}),
          words=["drives.rate_limiter", "iops"])
        f("PUT", "/drives/data", dict(drive, partuuid="0eaa91a0-0x"), words=["partuuid"])
        f("PUT", "/drives/" + "d" * 21, dict(drive, drive_id="d" * 21),
          words=["1 to 20 characters"])
        f("PUT", "/drives/other", drive, words=["differs"])
        f("PUT", "/drives/bad-id!", drive, words=["invalid id"])
        assert t.api.get("/vm/config")[1]["drives"] == []
        t.api.ok("PUT", "/drives/data", drive)
        t.api.ok("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": root,
                                           "is_root_device": True, "cache_type": "Writeback",
                                           "io_engine": "Sync"})
        f("PUT", "/drives/second", {"drive_id": "second", "path_on_host": root,
                                    "is_root_device": False}, words=["given twice"])
        f("PUT", "/drives/other", {"drive_id": "other", "path_on_host": disk_image("o.img"),
                                   "is_root_device": True}, words=["both the root device"])
        # PUT of a known id replaces that drive.
        t.api.ok("PUT", "/drives/data", dict(drive, is_read_only=False, cache_type="none",
                                             rate_limiter={"ops": {"size": 100,
                                                                   "refill_time": 1000}}))
        drives = t.api.get("/vm/config")[1]["drives"]
        assert drives == [
            {"drive_id": "data", "path_on_host": data, "is_root_device": False,
             "is_read_only": False, "cache_type": "None",
             "rate_limiter": {"ops": {"size": 100, "refill_time": 1000}}},
            {"drive_id": "rootfs", "path_on_host": root, "is_root_device": True,
             "is_read_only": False, "cache_type": "Writeback", "io_engine": "Sync"}], drives
        f("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": data},
          words=["started VM"])
        f("PATCH", "/drives/nope", {"drive_id": "nope", "path_on_host": data},
          words=["no drive 'nope'"])
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        f("PUT", "/drives/data", drive, words=["before the VM"])
        # A new backing file at run time (Kata's hot-plug): GET /vm/config
        # names it; the same file again re-reads its size; a file that
        # cannot serve (missing, or another drive's, locked) leaves the
        # drive on the old one.
        swap = disk_image("swap.img")
        with open(swap, "r+b") as img:
            img.truncate(2 << 20)
        t.api.ok("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": swap})
        assert t.api.get("/vm/config")[1]["drives"][0]["path_on_host"] == swap
        with open(swap, "r+b") as img:
            img.truncate(4 << 20)
        t.api.ok("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": swap})
        f("PATCH", "/drives/data", {"drive_id": "data",
                                    "path_on_host": os.path.join(WORK, "missing.img")},
          words=["missing.img"])
        f("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": root},
          words=[root])
        f("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": ""},
          words=["path_on_host"])
        assert t.api.get("/vm/config")[1]["drives"][0]["path_on_host"] == swap
        assert "backing file replaced" in t.stderr(), t.stderr()
        t.api.ok("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {
            "bandwidth": {"size": 1 << 20, "refill_time": 1000}}})
        t.api.ok("PATCH", "/drives/rootfs", {"drive_id": "rootfs", "rate_limiter": {
            "ops": {"size": 50, "one_time_burst": 10, "refill_time": 100}}})
        limiters = [d.get("rate_limiter") for d in t.api.get("/vm/config")[1]["drives"]]
        assert limiters == [
            {"bandwidth": {"size": 1 << 20, "refill_time": 1000},
             "ops": {"size": 100, "refill_time": 1000}},
            {"ops": {"size": 50, "one_time_burst": 10, "refill_time": 100}}], limiters
        f("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {
            "bandwidth": {"size": 1, "refill_time": 1, "extra": 1}}},
          words=["drives.rate_limiter.bandwidth", "extra"])
        # Nothing to change: refused, as Firecracker refuses it for virtio-blk.
        f("PATCH", "/drives/data", {"drive_id": "data"}, words=["path_on_host or rate_limiter"])
        f("PATCH", "/drives/data", {"drive_id": "data", "size": 1}, words=["unknown field"])
        samples = parse_prometheus(t.api.get("/metrics")[1])
        for drive_id in ("data", "rootfs"):
            assert samples[("tern_virtio_requests_total",
                            f'{{device="virtio-blk",id="{drive_id}"}}')] == 0
            assert samples[("tern_virtio_rate_limiter_throttled_total",
                            f'{{device="virtio-blk",id="{drive_id}"}}')] == 0
    # The same drives from the command line.
    with Tern("--disk", f"path={data},id=data,readonly,cache=none,engine=threads") as t:
        assert t.api.get("/vm/config")[1]["drives"] == [
            {"drive_id": "data", "path_on_host": data, "is_root_device": False,
             "is_read_only": True, "cache_type": "None", "io_engine": "Sync"}]


@test
def pmem_configured_before_start():
    """PUT /pmem/{id}: Firecracker's fields, its file opened when the
    request comes, kept in order and read back; refused after start, when
    PATCH /pmem/{id} changes the rate limiter instead."""
    needs_kvm()
    path = disk_image("pmem.img")
    with Tern() as t:
        f = t.api.fault
        pmem = {"id": "pm0", "path_on_host": path, "root_device": False, "read_only": False}
        f("PUT", "/pmem/pm0", {"id": "pm0"}, words=["path_on_host", "missing"])
        f("PUT", "/pmem/pm0", dict(pmem, path_on_host=os.path.join(WORK, "none.img")),
          words=["pmem.path_on_host", "No such file"])
        f("PUT", "/pmem/other", pmem, words=["differs"])
        f("PUT", "/pmem/pm0", dict(pmem, dax=True), words=["unknown field 'dax'"])
        t.api.ok("PUT", "/pmem/pm0", pmem)
        t.api.ok("PUT", "/pmem/pm1", dict(pmem, id="pm1", root_device=True, read_only=True))
        f("PUT", "/pmem/pm2", dict(pmem, id="pm2", root_device=True),
          words=["'pm1' is the root device already"])
        f("PUT", "/pmem/pm0",
          dict(pmem, rate_limiter={"ops": {"size": 10, "refill_time": -100}}),
          words=["pmem.rate_limiter.ops.refill_time", "negative"])
        # PUT of a known id replaces that device.
        bandwidth = {"bandwidth": {"size": 4096, "refill_time": 100}}
        t.api.ok("PUT", "/pmem/pm0", dict(pmem, read_only=True, rate_limiter=bandwidth))
        assert t.api.get("/vm/config")[1]["pmem"] == [
            dict(pmem, read_only=True, rate_limiter=bandwidth),
            {"id": "pm1", "path_on_host": path, "root_device": True, "read_only": True}]
        f("PATCH", "/pmem/pm0", {"id": "pm0", "rate_limiter": {}}, words=["started VM"])
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        f("PUT", "/pmem/pm0", pmem, words=["before the VM"])
        ops = {"ops": {"size": 10, "refill_time": 100}}
        t.api.ok("PATCH", "/pmem/pm0", {"id": "pm0", "rate_limiter": ops})
        assert t.api.get("/vm/config")[1]["pmem"][0]["rate_limiter"] == dict(bandwidth, **ops)
        f("PATCH", "/pmem/pm9", {"id": "pm9", "rate_limiter": ops}, words=["'pm9'"])
        f("PATCH", "/pmem/pm0", {"id": "pm0", "path_on_host": path},
          words=["unknown field 'path_on_host'"])
        f("PATCH", "/pmem/pm0", {"id": "pm0", "rate_limiter": {"ops": {"size": -1}}},
          words=["pmem.rate_limiter.ops"])
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_virtio_requests_total", '{device="virtio-pmem",id="pm0"}')] == 0
        assert samples[("tern_virtio_rate_limiter_throttled_total",
                        '{device="virtio-pmem",id="pm0"}')] == 0


@test
def snapshot_requests_are_checked():
    needs_kvm()
    with Tern() as t:
        f = t.api.fault
        f("PUT", "/snapshot/create", {"snapshot_path": "/s"}, words=["mem_file_path", "missing"])
        f("PUT", "/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m",
                                      "snapshot_type": "Half"}, words=["Full or Diff"])
        f("PUT", "/snapshot/load", {"snapshot_path": "/nonexistent/s",
                                    "mem_backend": {"backend_path": "/m", "backend_type": "File"}},
          words=["/nonexistent/s", "No such file"])
        f("PUT", "/snapshot/load", {"snapshot_path": "/s",
                                    "mem_backend": {"backend_path": "/m", "backend_type": "Mmap"}},
          words=["backend_type 'Mmap'", "use File or Uffd"])
        f("PUT", "/snapshot/load", {"snapshot_path": "/s"}, words=["mem_backend is missing"])
        with open(os.path.join(WORK, "junk"), "wb") as junk:
            junk.write(b"not a snapshot at all")
        f("PUT", "/snapshot/load", {"snapshot_path": os.path.join(WORK, "junk"),
                                    "mem_file_path": "/m"}, words=["wrong magic"])
        assert t.api.get("/vm/config")[0] == 200


@test
def snapshot_create_then_load_into_a_new_tern():
    needs_kvm()
    snap, mem = os.path.join(WORK, "snap"), os.path.join(WORK, "mem")
    with started("--cpus", "2") as t:
        time.sleep(0.3)
        t.api.fault("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem},
                    words=["needs a paused VM", "Running"])
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.fault("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem,
                                                "snapshot_type": "Diff"},
                    words=["needs a Full snapshot"])
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem,
                                             "snapshot_type": "Full"})
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        time.sleep(0.2)
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap + "2", "mem_file_path": mem,
                                             "snapshot_type": "Diff"})
    assert os.path.getsize(mem) == 256 << 20
    # Paused after load unless resume_vm; a second load is refused.
    with Tern() as t:
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap + "2",
                                           "mem_backend": {"backend_path": mem,
                                                           "backend_type": "File"}})
        info = t.api.get("/")[1]
        assert info["state"] == "Paused", info
        machine = t.api.get("/machine-config")[1]
        assert machine["vcpu_count"] == 2 and machine["mem_size_mib"] == 256, machine
        # GET /vm/config shows the snapshot's VM, boot source included.
        config = t.api.get("/vm/config")[1]
        assert config["boot-source"]["kernel_image_path"] == KERNEL, config
        assert config["machine-config"]["vcpu_count"] == 2, config
        t.api.fault("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_file_path": mem},
                    words=["has not started"])
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        assert t.api.get("/")[1]["state"] == "Running"
    with Tern() as t:
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_file_path": mem,
                                           "resume_vm": True})
        assert t.api.get("/")[1]["state"] == "Running"
    # A VM with a disk snapshots; a load with a disk of another size is
    # refused naming the drive and both sizes.
    data = disk_image("snapdata.img")
    other = disk_image("snapother.img", 2 << 20)
    t = Tern()
    with t:
        # With a rate limiter: the record keeps it, and a load reads it
        # (it once refused the field it had written itself).
        t.api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": data,
                                         "is_root_device": False, "is_read_only": True,
                                         "rate_limiter": {"bandwidth": {
                                             "size": 1 << 20, "refill_time": 1000}}})
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap + "3",
                                             "mem_file_path": mem + "3"})
    with Tern() as t:
        t.api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": other,
                                         "is_root_device": False, "is_read_only": True})
        t.api.fault("PUT", "/snapshot/load", {"snapshot_path": snap + "3",
                                              "mem_file_path": mem + "3"},
                    words=["device data (virtio-blk)", "2048 sectors", "4096"])
    # Another drive id, or read-only flag: refused by the configuration
    # check, naming the drives, before any device is created.
    with Tern() as t:
        t.api.ok("PUT", "/drives/other", {"drive_id": "other", "path_on_host": data,
                                          "is_root_device": False, "is_read_only": True})
        t.api.fault("PUT", "/snapshot/load", {"snapshot_path": snap + "3",
                                              "mem_file_path": mem + "3"},
                    words=["has 1 drives (data), this VM 1 (other)"])
        assert t.api.get("/")[1]["state"] == "Not started"
    with Tern() as t:
        t.api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": data,
                                         "is_root_device": False, "is_read_only": False})
        t.api.fault("PUT", "/snapshot/load", {"snapshot_path": snap + "3",
                                              "mem_file_path": mem + "3"},
                    words=["drive 'data' is read-only in the snapshot and writable here"])
    # The image path may differ (a restore on another host): a copy works.
    copy = os.path.join(WORK, "snapdata-copy.img")
    shutil.copyfile(data, copy)
    with Tern() as t:
        t.api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": copy,
                                         "is_root_device": False, "is_read_only": True})
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap + "3",
                                           "mem_file_path": mem + "3"})
        drives = t.api.get("/vm/config")[1]["drives"]
        assert [d["path_on_host"] for d in drives] == [copy], drives
    with Tern() as t:
        t.api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": data,
                                         "is_root_device": False, "is_read_only": True})
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap + "3",
                                           "mem_file_path": mem + "3", "resume_vm": True})
        assert t.api.get("/")[1]["state"] == "Running"
    # Another machine shape: the memory file no longer fits.
    with Tern() as t:
        with open(os.path.join(WORK, "short"), "wb") as f:
            f.truncate(1 << 20)
        t.api.fault("PUT", "/snapshot/load", {"snapshot_path": snap,
                                              "mem_file_path": os.path.join(WORK, "short")},
                    words=["memory file", "256 MiB"])
        assert t.api.get("/")[1]["state"] == "Not started"


def saved_kvmclock(path):
    """The guest's kvmclock (ns) in a snapshot's vm.clock section: the
    state file's header (48 bytes: magic, format, count, version), then a
    table of sections (id, reserved, name[24], offset, length)."""
    with open(path, "rb") as f:
        data = f.read()
    count = struct.unpack_from("<I", data, 12)[0]
    for i in range(count):
        _, _, name, offset, _ = struct.unpack_from("<II24sQQ", data, 48 + 48 * i)
        if name.rstrip(b"\0") == b"vm.clock":
            return struct.unpack_from("<Q", data, offset)[0]
    raise AssertionError(f"no vm.clock section in {path}")


@test
def snapshot_load_into_a_bare_tern_takes_the_snapshots_devices():
    """As Firecracker: a tern given no device before PUT /snapshot/load
    gets the snapshot's, at their recorded paths, with vsock_override and
    network_overrides applied and track_dirty_pages, clock_realtime taken;
    a bad override refuses the load and leaves the tern as it was."""
    needs_kvm()
    data = disk_image("adopt.img")
    snap, mem = os.path.join(WORK, "adopt.snap"), os.path.join(WORK, "adopt.mem")
    limiter = {"bandwidth": {"size": 1 << 20, "refill_time": 1000}}
    with Tern() as t:
        t.api.ok("PUT", "/drives/data", {"drive_id": "data", "path_on_host": data,
                                         "is_root_device": False, "is_read_only": False,
                                         "rate_limiter": limiter})
        t.api.ok("PUT", "/vsock", {"guest_cid": 5, "uds_path": os.path.join(WORK, "adopt1.v")})
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})
    backend = {"backend_type": "File", "backend_path": mem}
    with Tern() as t:
        f = t.api.fault
        f("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_backend": backend,
                                    "network_overrides": [{"iface_id": "eth9",
                                                           "host_dev_name": "tap9"}]},
          words=["network_overrides", "no network interface 'eth9'"])
        f("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_backend": backend,
                                    "network_overrides": [{"iface_id": "eth9"}]},
          words=["host_dev_name"])
        f("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_backend": backend,
                                    "vsock_override": {}}, words=["uds_path"])
        assert t.api.get("/")[1]["state"] == "Not started"
        assert t.api.get("/vm/config")[1]["drives"] == []
        uds = os.path.join(WORK, "adopt2.v")
        time.sleep(2)
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_backend": backend,
                                           "vsock_override": {"uds_path": uds},
                                           "track_dirty_pages": True,
                                           "clock_realtime": True})
        assert t.api.get("/")[1]["state"] == "Paused"
        config = t.api.get("/vm/config")[1]
        assert [(d["drive_id"], d["path_on_host"], d["rate_limiter"])
                for d in config["drives"]] == [("data", data, limiter)], config["drives"]
        assert config["vsock"]["uds_path"] == uds and config["vsock"]["guest_cid"] == 5, config
        assert config["machine-config"]["track_dirty_pages"] is True, config
        # clock_realtime: the guest's clock went on by the real time since
        # the snapshot (2 s and more), as a snapshot of it now records.
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap + "-rt",
                                             "mem_file_path": mem + "-rt"})
        advanced = saved_kvmclock(snap + "-rt") - saved_kvmclock(snap)
        assert 2e9 <= advanced < 600e9, advanced
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
    # Without vsock_override: the socket path the snapshot recorded;
    # without clock_realtime: the clock the snapshot recorded.
    with Tern() as t:
        t.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap, "mem_backend": backend})
        assert t.api.get("/vm/config")[1]["vsock"]["uds_path"] == os.path.join(WORK,
                                                                               "adopt1.v")
        t.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap + "-same",
                                             "mem_file_path": mem + "-same"})
        assert saved_kvmclock(snap + "-same") == saved_kvmclock(snap)
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        assert t.api.get("/")[1]["state"] == "Running"


@test
def balloon_configured_before_start_and_driven_after():
    needs_kvm()
    with Tern("--memory", "256M") as t:
        f = t.api.fault
        f("PUT", "/balloon", {"amount_mib": 0}, words=["deflate_on_oom", "missing"])
        f("PUT", "/balloon", {"amount_mib": 256, "deflate_on_oom": False},
          words=["balloon.amount_mib (256 MiB) must be less than machine-config.mem_size_mib"])
        f("PUT", "/balloon", {"amount_mib": 8, "deflate_on_oom": False,
                              "stats_polling_interval_s": 90000}, words=["stats_polling"])
        f("PUT", "/balloon", {"amount_mib": 8, "deflate_on_oom": False,
                              "free_page_hinting": 1}, words=["free_page_hinting"])
        assert t.api.get("/vm/config")[1]["balloon"] is None   # refused: nothing changed
        t.api.ok("PUT", "/balloon", {"amount_mib": 100, "deflate_on_oom": True,
                                     "stats_polling_interval_s": 1,
                                     "free_page_reporting": True})
        expected = {"amount_mib": 100, "deflate_on_oom": True, "stats_polling_interval_s": 1,
                    "free_page_hinting": False, "free_page_reporting": True}
        assert t.api.get("/balloon") == (200, expected)
        assert t.api.get("/vm/config")[1]["balloon"] == expected
        f("PATCH", "/balloon", {"amount_mib": 16}, words=["started VM", "PUT /balloon"])
        f("GET", "/balloon/statistics", words=["started VM"])
        f("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 2}, words=["started VM"])
        # RAM shrunk under the balloon after PUT /balloon: InstanceStart says so.
        t.api.ok("PATCH", "/machine-config", {"mem_size_mib": 64})
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        f("PUT", "/actions", {"action_type": "InstanceStart"}, words=["balloon.amount_mib"])
        t.api.ok("PATCH", "/machine-config", {"mem_size_mib": 256})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        f("PUT", "/balloon", {"amount_mib": 8, "deflate_on_oom": True}, words=["before the VM"])
        t.api.ok("PATCH", "/balloon", {"amount_mib": 32})
        f("PATCH", "/balloon", {"amount_mib": 256}, words=["must be less than"])
        f("PATCH", "/balloon", {"amount_mib": "1"}, words=["amount_mib", "integer"])
        f("PATCH", "/balloon", {"amount_mib": 1, "deflate_on_oom": True},
          words=["unknown field 'deflate_on_oom'"])
        assert t.api.get("/balloon")[1]["amount_mib"] == 32
        assert t.api.get("/vm/config")[1]["balloon"]["amount_mib"] == 32
        status, stats = t.api.get("/balloon/statistics")
        # The fake guest has no driver: nothing inflated, no statistics.
        assert status == 200 and stats == {"target_pages": 32 * 256, "actual_pages": 0,
                                           "target_mib": 32, "actual_mib": 0}, stats
        t.api.ok("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 5})
        assert t.api.get("/balloon")[1]["stats_polling_interval_s"] == 5
        f("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 86401},
          words=["stats_polling_interval_s"])
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_balloon_target_bytes", "")] == 32 << 20
        assert samples[("tern_virtio_requests_total",
                        '{device="virtio-balloon",id="balloon0"}')] == 0
        assert ("tern_virtio_interrupts_total",
                '{device="virtio-balloon",id="balloon0"}') in samples
    # Statistics need an interval at start (their queue exists from then on).
    with started("--balloon", "size=4M") as t:
        assert t.api.get("/balloon")[1]["stats_polling_interval_s"] == 0
        t.api.fault("PATCH", "/balloon/statistics", {"stats_polling_interval_s": 1},
                    words=["not enabled"])
        t.api.fault("GET", "/balloon/statistics", words=["not enabled"])
    with started() as t:
        t.api.fault("PATCH", "/balloon", {"amount_mib": 1}, words=["no balloon device"])


@test
def balloon_free_page_hinting_routes():
    """Firecracker's /balloon/hinting/{start,status,stop}: refused before
    start, without a balloon, without hinting enabled, and (the fake guest
    has no driver) while the device is not set up; the status answers."""
    needs_kvm()
    with Tern("--memory", "256M") as t:
        f = t.api.fault
        t.api.ok("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False,
                                     "free_page_hinting": True})
        expected = {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 0,
                    "free_page_hinting": True, "free_page_reporting": False}
        assert t.api.get("/balloon") == (200, expected)
        assert t.api.get("/vm/config")[1]["balloon"] == expected
        f("PATCH", "/balloon/hinting/start", {}, words=["started VM"])
        f("PATCH", "/balloon/hinting/start", words=["started VM"])
        f("GET", "/balloon/hinting/status", words=["started VM"])
        f("PATCH", "/balloon/hinting/stop", words=["started VM"])
        f("GET", "/balloon/hinting/start", words=["invalid request method"])
        f("PUT", "/balloon/hinting/stop", {}, words=["invalid request method"])
        f("PATCH", "/balloon/hinting", {}, words=["invalid request method"])
        f("PATCH", "/balloon/hinting/start", {"acknowledge_on_stop": 1},
          words=["acknowledge_on_stop"])
        f("PATCH", "/balloon/hinting/start", {"ack": True}, words=["unknown field 'ack'"])
        f("PATCH", "/balloon/hinting/start", raw=b"{", words=["malformed JSON"])
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        assert t.api.get("/balloon/hinting/status") == (200, {"host_cmd": 0,
                                                              "guest_cmd": None})
        f("PATCH", "/balloon/hinting/start", {"acknowledge_on_stop": False},
          words=["driver", "not set the device up"])
        f("PATCH", "/balloon/hinting/start", words=["driver"])
        f("PATCH", "/balloon/hinting/stop", words=["driver"])
        assert t.api.get("/balloon/hinting/status")[1]["host_cmd"] == 0
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_balloon_hinted_bytes_total", "")] == 0
    # The command line's free-page-hinting is the same setting.
    with started("--balloon", "size=4M,free-page-hinting") as t:
        assert t.api.get("/balloon")[1]["free_page_hinting"] is True
        assert t.api.get("/balloon/hinting/status")[1] == {"host_cmd": 0, "guest_cmd": None}
    with started("--balloon", "size=4M,free-page-reporting") as t:
        for method, path in (("PATCH", "/balloon/hinting/start"),
                             ("GET", "/balloon/hinting/status"),
                             ("PATCH", "/balloon/hinting/stop")):
            t.api.fault(method, path, words=["hinting is not enabled"])
    with started() as t:
        t.api.fault("PATCH", "/balloon/hinting/start", words=["no balloon device"])
        t.api.fault("GET", "/balloon/hinting/status", words=["no balloon device"])


@test
def entropy_is_the_virtio_rng_device():
    with Tern("--transport", "mmio") as t:
        assert t.api.get("/vm/config")[1]["entropy"] is None
        t.api.fault("PUT", "/entropy", {"rate_limiter": {"bandwidth": {}}},
                    words=["rate_limiter"])
        t.api.fault("PUT", "/entropy", {"rng": 1}, words=["unknown field 'rng'"])
        t.api.ok("PUT", "/entropy", {})
        doc = t.api.get("/vm/config")[1]
        assert doc["entropy"] == {} and doc["tern"]["virtio_transport"] == "mmio"
    with Tern("--rng") as t:
        assert t.api.get("/vm/config")[1]["entropy"] == {}


@test
def oversized_bodies_get_413_and_the_api_goes_on():
    with Tern() as t:
        # Declared too large: answered from the headers, before any body is
        # sent (a client still sending would race the close).
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(t.sock)
        conn.sendall(b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 71680\r\n"
                     b"Content-Type: application/json\r\n\r\n")
        conn.settimeout(10)
        reply = conn.recv(4096).decode()
        conn.close()
        assert reply.startswith("HTTP/1.1 413"), reply
        assert "larger than" in reply, reply
        # At the limit exactly: read and judged on its content (a kernel
        # path this long names no file: the 400 is about the file).
        body = json.dumps({"kernel_image_path": "x" * (64 * 1024 - 25)})
        assert len(body) == 64 * 1024
        t.api.fault("PUT", "/boot-source", raw=body, words=["kernel_image_path"])
        # Chunked: no length up front, refused after reading.
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(t.sock)
        conn.sendall(b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/json\r\n\r\n")
        chunk = b"x" * 8192
        for _ in range(10):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")
        reply = conn.recv(4096).decode()
        conn.close()
        assert reply.startswith("HTTP/1.1 413"), reply
        assert t.api.get("/")[0] == 200


@test
def many_clients_at_once():
    with Tern() as t:
        failures = []

        def client(n):
            try:
                for _ in range(10):
                    status, _ = t.api.get("/machine-config")
                    if status != 200:
                        failures.append(status)
                    t.api.fault("PUT", "/machine-config", {"vcpu_count": "x"})
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(40)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not failures, failures[:5]
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_api_requests_total", '{method="GET",status="200"}')] >= 400
        assert samples[("tern_api_requests_total", '{method="PUT",status="400"}')] == 400


@test
def slow_and_half_open_clients_do_not_block_others():
    with Tern() as t:
        slow = socket.socket(socket.AF_UNIX)
        slow.connect(t.sock)
        slow.sendall(b"PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        half = socket.socket(socket.AF_UNIX)
        half.connect(t.sock)
        half.sendall(b"GET / HT")
        start = time.time()
        for _ in range(20):
            assert t.api.get("/")[0] == 200
        assert time.time() - start < 5, "other clients were held up"
        # The server drops both after its connection timeout (10 s).
        slow.settimeout(20)
        half.settimeout(20)
        assert slow.recv(4096) == b""
        assert half.recv(4096) == b""
        assert time.time() - start < 19


@test
def socket_in_use_is_refused_and_a_stale_one_replaced():
    with Tern() as t:
        second = subprocess.run([TERN, "run", "--api-sock", t.sock], capture_output=True,
                                text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert second.returncode == 1, second
        assert "in use" in second.stderr, second.stderr
        assert t.api.get("/")[0] == 200
    stale = os.path.join(WORK, "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()                                # the file stays, nobody listens
    assert os.path.exists(stale)
    proc = subprocess.Popen([TERN, "run", "--api-sock", stale, "--serial", "none"],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_socket(stale, proc)
    assert Api(stale).get("/")[0] == 200
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert not os.path.exists(stale), "the socket file was left behind"
    regular = os.path.join(WORK, "regular-file")
    open(regular, "w").close()
    result = subprocess.run([TERN, "run", "--api-sock", regular], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "not a socket" in result.stderr, result


@test
def api_socket_is_private_whatever_the_umask():
    old = os.umask(0)
    try:
        t = Tern()
    finally:
        os.umask(old)
    with t:
        mode = stat.S_IMODE(os.stat(t.sock).st_mode)
        assert mode == 0o600, oct(mode)


@test
def host_paths_are_not_written_through_planted_links():
    needs_kvm()
    victim = os.path.join(WORK, "victim")
    with open(victim, "wb") as f:
        f.write(b"precious")
    for name in ("log-link", "metrics-link", "snap-link"):
        os.symlink(victim, os.path.join(WORK, name))
    mem = os.path.join(WORK, "links-mem")
    with Tern() as t:
        t.api.fault("PUT", "/logger", {"log_path": os.path.join(WORK, "log-link")},
                    words=["symbolic link"])
        t.api.fault("PUT", "/metrics", {"metrics_path": os.path.join(WORK, "metrics-link")},
                    words=["symbolic link"])
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        # Snapshot files are replaced only where a regular file stands.
        t.api.fault("PUT", "/snapshot/create",
                    {"snapshot_path": os.path.join(WORK, "links-snap"),
                     "mem_file_path": os.path.join(WORK, "snap-link")},
                    words=["memory file", "symbolic link"])
        t.api.fault("PUT", "/snapshot/create",
                    {"snapshot_path": os.path.join(WORK, "snap-link"), "mem_file_path": mem},
                    words=["snapshot", "symbolic link"])
        t.api.ok("PUT", "/snapshot/create",
                 {"snapshot_path": os.path.join(WORK, "links-snap"), "mem_file_path": mem})
        # A Diff writes guest pages into the last memory file only: not
        # through a link to a file of the right size, nor a second name.
        big_victim = os.path.join(WORK, "big-victim")
        with open(big_victim, "wb") as f:
            f.truncate(os.path.getsize(mem))
        os.symlink(big_victim, os.path.join(WORK, "mem-link"))
        t.api.fault("PUT", "/snapshot/create",
                    {"snapshot_path": os.path.join(WORK, "links-snap2"),
                     "mem_file_path": os.path.join(WORK, "mem-link"), "snapshot_type": "Diff"},
                    words=["symbolic link"])
        os.link(mem, os.path.join(WORK, "mem-hard"))
        t.api.fault("PUT", "/snapshot/create",
                    {"snapshot_path": os.path.join(WORK, "links-snap2"),
                     "mem_file_path": mem, "snapshot_type": "Diff"},
                    words=["hard links"])
        os.unlink(os.path.join(WORK, "mem-hard"))
        t.api.ok("PUT", "/snapshot/create",
                 {"snapshot_path": os.path.join(WORK, "links-snap2"),
                  "mem_file_path": mem, "snapshot_type": "Diff"})
    with open(victim, "rb") as f:
        assert f.read() == b"precious"
    with open(big_victim, "rb") as f:
        assert not f.read().strip(b"\0"), "guest pages reached the linked file"


@test
def logger_writes_logfmt_lines_for_requests_and_state_changes():
    needs_kvm()
    log = os.path.join(WORK, "tern.log")
    t = Tern()
    try:
        t.api.ok("PUT", "/logger", {"log_path": log, "level": "Info", "show_level": True,
                                    "show_log_origin": True})
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
    finally:
        assert t.stop() == 128 + signal.SIGTERM
    with open(log) as f:
        lines = f.read().splitlines()
    assert lines, "empty log"
    for line in lines:
        assert line.startswith("ts=") and " level=" in line and " origin=" in line, line
        assert ' msg="' in line and line.endswith('"'), line
    text = "\n".join(lines)
    assert 'msg="api request method=PUT path=/boot-source status=204' in text
    assert "vm state: Not started -> Running" in text
    assert "vm state: Running -> Paused" in text
    assert "vm state: Paused -> Running" in text
    assert "vm state: Running -> Stopped" in text


@test
def wrong_state_requests_are_refused():
    needs_kvm()
    with Tern() as t:
        t.api.fault("PATCH", "/vm", {"state": "Paused"}, words=["not running"])
        t.api.fault("PUT", "/actions", {"action_type": "SendCtrlAltDel"}, words=["running VM"])
        t.api.fault("PUT", "/actions", {"action_type": "SendPowerButton"}, words=["running VM"])
        t.api.fault("PUT", "/actions", {"action_type": "InstanceStart"},
                    words=["kernel_image_path"])
        # A kernel file that is there when configured but gone at start.
        gone = os.path.join(WORK, "gone")
        shutil.copy(KERNEL, gone)
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": gone})
        os.unlink(gone)
        t.api.fault("PUT", "/actions", {"action_type": "InstanceStart"}, words=["gone"])
        assert t.api.get("/")[1]["state"] == "Not started"   # a failed start can be retried
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        assert t.api.get("/")[1]["state"] == "Running"
        t.api.fault("PUT", "/actions", {"action_type": "InstanceStart"}, words=["before the VM"])
        t.api.fault("PUT", "/boot-source", {"kernel_image_path": KERNEL}, words=["before the VM"])
        t.api.fault("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256},
                    words=["before the VM"])
        t.api.fault("PATCH", "/machine-config", {"vcpu_count": 2}, words=["before the VM"])
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})   # already running: nothing to do
        # The fake guest has no keyboard driver: no pretended key press.
        t.api.fault("PUT", "/actions", {"action_type": "SendCtrlAltDel"},
                    words=["no keyboard driver"])
        assert t.api.get("/vm/config")[1]["boot-source"]["kernel_image_path"] == KERNEL


GED_GUEST = os.path.join(ROOT, "build/guests/ged32-pvh.elf")


@test
def send_power_button_waits_for_a_listening_guest_and_is_counted():
    """The fake guest never unmasks the GED's IOAPIC pin: no pretended
    press. ged32 unmasks it as Linux's GED driver does: each press is
    accepted and counted in tern_power_button_presses_total."""
    needs_kvm()
    with started() as t:
        t.api.fault("PUT", "/actions", {"action_type": "SendPowerButton"},
                    words=["power button", "masked"])
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_power_button_presses_total", "")] == 0
    assert os.path.exists(GED_GUEST), f"{GED_GUEST} is missing: make guests"
    with Tern() as t:
        t.api.fault("PUT", "/actions", {"action_type": "SendPowerButton"},
                    words=["running VM"])
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": GED_GUEST})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        deadline = time.time() + 30
        while True:   # until the guest's few instructions have run
            status, _ = t.api.request("PUT", "/actions", {"action_type": "SendPowerButton"})
            if status == 204:
                break
            assert time.time() < deadline, "ged32 never unmasked the GED's pin"
            time.sleep(0.1)
        t.api.ok("PUT", "/actions", {"action_type": "SendPowerButton"})
        samples = parse_prometheus(t.api.get("/metrics")[1])
        assert samples[("tern_power_button_presses_total", "")] == 2
        assert "pressed the guest's ACPI power button" in t.stderr()


@test
def pause_stops_the_vcpus_and_resume_restarts_them():
    needs_kvm()
    with started("--cpus", "2") as t:
        time.sleep(0.5)
        before = t.cpu_seconds()
        time.sleep(1.0)
        running = t.cpu_seconds() - before
        t.api.ok("PATCH", "/vm", {"state": "Paused"})
        assert t.api.get("/")[1]["state"] == "Paused"
        before = t.cpu_seconds()
        time.sleep(1.5)
        paused = t.cpu_seconds() - before
        t.api.ok("PATCH", "/vm", {"state": "Paused"})    # twice: still paused, no error
        t.api.ok("PATCH", "/vm", {"state": "Resumed"})
        assert t.api.get("/")[1]["state"] == "Running"
        # Resumed: the vCPUs spin again. The machine is shared, so wait up
        # to 10 s for 0.1 s of CPU rather than asking for a rate.
        before = t.cpu_seconds()
        start = time.time()
        while t.cpu_seconds() - before < 0.1 and time.time() - start < 10:
            time.sleep(0.1)
        resumed = t.cpu_seconds() - before
        print(f"# CPU seconds: running {running:.2f}/s, paused {paused:.2f}/1.5s, "
              f"resumed {resumed:.2f} in {time.time() - start:.1f} s")
        assert paused < 0.1, f"paused tern used {paused:.2f} s of CPU"
        if running < 0.1:
            skip(f"the fake guest does not spin here ({running:.2f} CPU s/s)")
        assert resumed >= 0.1, f"resumed vCPUs used only {resumed:.2f} s of CPU in 10 s"


@test
def metrics_prometheus_text_and_flushed_json_lines():
    needs_kvm()
    path = os.path.join(WORK, "metrics.json")
    with Tern() as t:
        t.api.fault("PUT", "/actions", {"action_type": "FlushMetrics"}, words=["PUT /metrics"])
        t.api.ok("PUT", "/metrics", {"metrics_path": path})
        t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        t.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        t.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        t.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        status, text = t.api.get("/metrics")
        assert status == 200
        samples = parse_prometheus(text)
        assert samples[("tern_process_resident_memory_bytes", "")] > 1 << 20
        assert samples[("tern_vm_running", "")] == 1
        assert ("tern_guest_boot_seconds", "") in samples
        assert samples[("tern_api_requests_total", '{method="PUT",status="204"}')] >= 4
    with open(path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 2, lines
    for line in lines:
        doc = json.loads(line)
        assert doc["utc_timestamp_ms"] > 0
        assert doc["process"]["tern_process_resident_memory_bytes"] > 0
        assert doc["vm"]["tern_vm_running"] == 1
        assert any(e["method"] == "PUT" for e in doc["api"]["tern_api_requests_total"])


@test
def config_file_errors_are_usage_errors():
    bad = os.path.join(WORK, "bad.json")
    with open(bad, "w") as f:
        f.write('{"boot-source": {"kernel_image_path": 5}}')
    result = subprocess.run([TERN, "run", "--config-file", bad], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result
    assert "kernel_image_path: expected a string" in result.stderr and bad in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with open(bad, "w") as f:
        f.write('{"boot-source": ')
    result = subprocess.run([TERN, "run", "--config-file", bad], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "line 1" in result.stderr, result


def wait_for_thread(proc, name, timeout=30):
    """Waits until proc has a thread called name; fails if proc ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, (proc.returncode, proc.communicate()[1][-2000:])
        try:
            tasks = os.listdir(f"/proc/{proc.pid}/task")
        except FileNotFoundError:
            tasks = []
        for tid in tasks:
            try:
                with open(f"/proc/{proc.pid}/task/{tid}/comm") as f:
                    if f.read().strip() == name:
                        return
            except FileNotFoundError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no thread {name} in tern after {timeout} s")


@test
def config_file_boots_without_the_api_and_options_override_it():
    needs_kvm()
    path = os.path.join(WORK, "boot.json")
    with open(path, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": os.path.join(WORK, "nope")},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
                   "tern": {"serial": "none"}}, f)
    result = subprocess.run([TERN, "run", "--config-file", path], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "nope" in result.stderr, result   # it tried to boot
    proc = subprocess.Popen([TERN, "run", "--config-file", path, "--kernel", KERNEL],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # The fake guest runs once tern has its vCPU thread (a fixed sleep was
    # too short for the sanitizer build's start-up on a loaded test host).
    wait_for_thread(proc, "vcpu0")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err[-2000:])


@test
def config_file_with_every_device_boots_and_reads_back():
    """A document with a drive, an interface, vsock, a balloon and entropy:
    with --api-sock it boots at once and GET /vm/config returns it as
    given (tern in a network namespace of its own, for the tap)."""
    needs_kvm()
    if not os.path.exists("/dev/net/tun"):
        skip("no /dev/net/tun on this machine")
    doc = {"boot-source": {"kernel_image_path": KERNEL, "boot_args": "console=ttyS0"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "smt": False,
                              "track_dirty_pages": False, "huge_pages": "None",
                              "cpu_template": "None"},
           "logger": {"level": "Info", "show_level": False, "show_log_origin": False},
           "metrics": None,
           "drives": [{"drive_id": "rootfs", "path_on_host": disk_image("doc.img"),
                       "is_root_device": True, "is_read_only": True,
                       "cache_type": "Writeback", "io_engine": "Sync"}],
           "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tapdoc",
                                   "guest_mac": "52:54:00:aa:bb:cc"}],
           "vsock": {"guest_cid": 42, "uds_path": os.path.join(WORK, "doc.sock")},
           "balloon": {"amount_mib": 16, "deflate_on_oom": False,
                       "stats_polling_interval_s": 0, "free_page_hinting": False,
                       "free_page_reporting": False},
           "entropy": {},
           "pmem": [],
           "memory-hotplug": None,
           "mmds-config": None,
           # restart: the power-on state of every device is taken at start
           "tern": {"serial": "none", "on_reboot": "restart"}}
    path = os.path.join(WORK, "devices.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    with Tern("--config-file", path, wrapper=["unshare", "-n"]) as t:
        # The API answers while the VM is still being created.
        deadline = time.time() + 20
        while t.api.get("/")[1]["state"] != "Running" and time.time() < deadline:
            time.sleep(0.05)
        assert t.api.get("/")[1]["state"] == "Running", t.stderr()
        assert t.api.get("/vm/config")[1] == doc
        assert t.api.get("/balloon")[1]["amount_mib"] == 16
        samples = parse_prometheus(t.api.get("/metrics")[1])
        ids = {key[1] for key in samples if key[0] == "tern_virtio_requests_total"}
        assert ids == {'{device="virtio-rng",id="rng0"}', '{device="virtio-vsock",id="vsock0"}',
                       '{device="virtio-balloon",id="balloon0"}',
                       '{device="virtio-net",id="eth0"}',
                       '{device="virtio-blk",id="rootfs"}'}, ids


@test
def sigterm_before_start_exits_and_removes_the_socket():
    t = Tern()
    assert t.stop() == 128 + signal.SIGTERM
    assert not os.path.exists(t.sock)


@test
def migration_requests_are_checked():
    needs_kvm()
    with Tern() as t:
        f = t.api.fault
        assert t.api.get("/migration") == (200, {"state": "none"})
        f("PUT", "/migration", {}, words=["destination", "missing"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", "insecure_plain_tcp": True},
          words=["needs a running VM", "Not started"])
    plain = {"insecure_plain_tcp": True}
    with started() as t:
        f = t.api.fault
        f("PUT", "/migration", {"destination": "unix:/x", **plain}, words=["tcp:HOST:PORT"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", **plain},
          words=["cannot connect"])
        # No transport here nor from tern run: refused, never plain TCP.
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1"},
          words=["migration needs TLS", "insecure_plain_tcp"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", "insecure_plain_tcp": True,
                                "tls": {"psk_file": "/x"}}, words=["exclude each other"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", "tls": {"ca_file": "/x"}},
          words=["migration.tls", "the certificate file is missing"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", "tls": {"psk": "/x"}},
          words=["migration.tls", "psk"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", "tls": {"psk_file": ""}},
          words=["migration.tls.psk_file", "empty"])
        f("PUT", "/migration", {"destination": "tcp:127.0.0.1:1",
                                "tls": {"psk_file": "/nonexistent/psk"}},
          words=["PSK file /nonexistent/psk", "No such file"])
        assert t.api.get("/migration") == (200, {"state": "none"})
        assert t.api.get("/")[1]["state"] == "Running"
    # Virtio devices pass the check, which runs no device's save: the
    # refused request leaves the disk locked and the VM running.
    img = disk_image("precheck.img")
    with started("--rng", "--disk", f"path={img}") as t:
        t.api.fault("PUT", "/migration", {"destination": "tcp:127.0.0.1:1", **plain},
                    words=["cannot connect"])
        assert t.api.get("/")[1]["state"] == "Running"
        assert image_locked(img)


def image_locked(path):
    """Whether some process holds a lock on the image (tern's OFD lock
    conflicts with this POSIX lock)."""
    with open(path, "r+b") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(f, fcntl.LOCK_UN)
        return False


def put_migration(src, port, transport=None):
    """The destination listens just after its API socket appears. transport:
    PUT /migration's fields for it (default: plain TCP)."""
    if transport is None:
        transport = {"insecure_plain_tcp": True}
    for _ in range(50):
        status, reply = src.api.put("/migration",
                                    {"destination": f"tcp:127.0.0.1:{port}", **transport})
        if status == 204 or "cannot connect" not in str(reply):
            break
        time.sleep(0.1)
    assert status == 204, reply


def wait_migration_state(t, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = t.api.get("/migration")[1]
        if state["state"] in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"migration still {state} after {timeout} s")


@test
def migration_hands_the_disk_lock_over():
    """Both terns name the same image: the destination opens it unlocked and
    takes the lock as it restores the state, after the source flushed and
    released it; then the source exits 0."""
    needs_kvm()
    for n, transport in enumerate(("pci", "mmio")):
        port = 46500 + os.getpid() % 1000 + n
        img = disk_image(f"handover-{transport}.img")
        devices = ("--rng", "--disk", f"path={img}", "--balloon", "stats=1",
                   "--transport", transport)
        with started(*devices) as src, Tern("--incoming", f"tcp:127.0.0.1:{port}",
                                            "--insecure-plain-tcp", *devices) as dst:
            assert image_locked(img)
            time.sleep(0.3)
            put_migration(src, port)
            assert src.proc.wait(timeout=60) == 0, src.stderr()
            assert "completed" in src.stderr(), src.stderr()
            assert dst.api.get("/")[1]["state"] == "Running"
            assert image_locked(img), "the destination does not hold the disk's lock"
        assert not image_locked(img)


@test
def refused_migration_gives_the_disk_lock_back():
    """A destination with other devices refuses the state after the source
    released its disk's lock: the source takes the lock back and runs on."""
    needs_kvm()
    port = 46600 + os.getpid() % 1000
    img = disk_image("refused.img")
    with started("--disk", f"path={img}") as src:
        dst = Tern("--incoming", f"tcp:127.0.0.1:{port}", "--insecure-plain-tcp",
                   "--disk", f"path={img}", "--rng")
        try:
            time.sleep(0.3)
            put_migration(src, port)
            state = wait_migration_state(src, ("failed", "completed"))
            assert state["state"] == "failed", state
            assert "no entropy device (virtio-rng), this VM has one" in state["error"], state
            assert dst.proc.wait(timeout=30) == 1, dst.stderr()
            assert src.api.get("/")[1]["state"] == "Running"
            assert image_locked(img), "the source did not take its disk's lock back"
        finally:
            if dst.proc.poll() is None:
                dst.proc.kill()
                dst.proc.wait(timeout=10)


@test
def migration_between_two_terns():
    needs_kvm()
    port = 46000 + os.getpid() % 1000
    with started("--cpus", "2") as src, Tern("--incoming", f"tcp:127.0.0.1:{port}",
                                             "--insecure-plain-tcp") as dst:
        time.sleep(0.3)
        put_migration(src, port)
        assert src.proc.wait(timeout=60) == 0, src.stderr()
        assert "completed" in src.stderr() and "downtime" in src.stderr()
        assert dst.api.get("/")[1]["state"] == "Running"
        machine = dst.api.get("/machine-config")[1]
        assert machine["vcpu_count"] == 2 and machine["mem_size_mib"] == 256, machine
        # One migration per destination: nobody else may connect.
        s = socket.socket()
        assert s.connect_ex(("127.0.0.1", port)) != 0
        s.close()


KEYS = None


def keys():
    global KEYS
    if KEYS is None:
        KEYS = TlsKeys(os.path.join(WORK, "tls"))
    return KEYS


def migrate_and_check(src, dst, port, transport):
    put_migration(src, port, transport)
    assert src.proc.wait(timeout=60) == 0, src.stderr()
    assert "completed" in src.stderr(), src.stderr()
    assert dst.api.get("/")[1]["state"] == "Running"


@test
def migration_over_tls_with_certificates():
    """Both ends present certificates from the test's CA; the destination's
    names 127.0.0.1, the address the source connects to."""
    needs_kvm()
    port = 46700 + os.getpid() % 1000
    k = keys()
    with started("--cpus", "2") as src, \
            Tern("--incoming", f"tcp:127.0.0.1:{port}", "--migration-tls",
                 k.tls_option("dst")) as dst:
        time.sleep(0.3)
        migrate_and_check(src, dst, port, {"tls": k.tls_json("src")})
        assert "TLS 1.3, certificates" in src.stderr(), src.stderr()
        assert "TLS 1.3, certificates" in dst.stderr(), dst.stderr()
        assert dst.api.get("/machine-config")[1]["vcpu_count"] == 2


@test
def migration_over_tls_with_a_pre_shared_key_from_tern_run():
    """The source's own --migration-tls serves a PUT /migration that names no
    transport."""
    needs_kvm()
    port = 46800 + os.getpid() % 1000
    k = keys()
    with started("--migration-tls", k.psk_option("psk")) as src, \
            Tern("--incoming", f"tcp:127.0.0.1:{port}", "--migration-tls",
                 k.psk_option("psk")) as dst:
        time.sleep(0.3)
        migrate_and_check(src, dst, port, {})
        assert "TLS 1.3, pre-shared key" in src.stderr(), src.stderr()


def guest_keeps_running(t):
    """The fake guest's vCPU spins: a running VM burns CPU time (a paused
    one none: pause_stops_the_vcpus_and_resume_restarts_them). Up to 10 s
    for 0.05 s of it: a loaded machine gives a niced tern little."""
    assert t.api.get("/")[1]["state"] == "Running"
    before = t.cpu_seconds()
    deadline = time.time() + 10
    while t.cpu_seconds() - before < 0.05:
        assert time.time() < deadline, "the source's guest does not run"
        time.sleep(0.1)


@test
def source_without_the_key_or_certificate_is_refused_and_runs_on():
    """Sources with the wrong key, a certificate of another CA, or plain TCP
    are refused at the handshake: PUT /migration fails, the source's VM runs
    on, and the destination goes on waiting, so the right source can then
    migrate to it."""
    needs_kvm()
    port = 46900 + os.getpid() % 1000
    k = keys()
    with started() as src, \
            Tern("--incoming", f"tcp:127.0.0.1:{port}", "--migration-tls",
                 k.psk_option("psk")) as dst:
        time.sleep(0.3)
        dest = {"destination": f"tcp:127.0.0.1:{port}"}
        for transport in ({"tls": {"psk_file": k.path("psk2")}},
                          {"tls": k.tls_json("rogue", ca="other")}):
            src.api.fault("PUT", "/migration", {**dest, **transport},
                          words=["TLS handshake", "failed"])
            assert src.api.get("/migration")[1]["state"] == "none"
            guest_keeps_running(src)
        # Plain TCP connects (nothing to check on this side), then the
        # destination's handshake fails and the migration with it.
        assert src.api.put("/migration", {**dest, "insecure_plain_tcp": True})[0] == 204
        state = wait_migration_state(src, ("failed", "completed"))
        assert state["state"] == "failed", state
        guest_keeps_running(src)
        assert dst.proc.poll() is None, dst.stderr()
        assert dst.stderr().count("incoming migration refused") == 3, dst.stderr()
        migrate_and_check(src, dst, port, {"tls": {"psk_file": k.path("psk")}})


@test
def destination_with_another_ca_is_refused():
    """A destination whose certificate the source's CA did not sign never
    gets the VM, even though it would accept the source."""
    needs_kvm()
    port = 47000 + os.getpid() % 1000
    k = keys()
    rogue = (f"ca={k.path('ca.pem')},cert={k.path('rogue.pem')},"
             f"key={k.path('rogue.key')}")
    with started() as src, \
            Tern("--incoming", f"tcp:127.0.0.1:{port}", "--migration-tls", rogue) as dst:
        time.sleep(0.3)
        src.api.fault("PUT", "/migration",
                      {"destination": f"tcp:127.0.0.1:{port}", "tls": k.tls_json("src")},
                      words=["destination's certificate is refused"])
        guest_keeps_running(src)
        assert dst.proc.poll() is None


if __name__ == "__main__":
    run(setup)
