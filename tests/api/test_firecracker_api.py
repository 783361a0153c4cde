#!/usr/bin/python3
"""tern as a drop-in for Firecracker, on this machine without a bootable
guest: started as `firecracker` (the build's link), every response of
Firecracker's shape is checked against the schemas of Firecracker's API
specification (the version docs/api.md names), and the requests Firecracker's
clients send (firectl, Kata Containers, the Go SDK) are accepted.

The schemas below are written here from the specification's field names and
types; nothing is vendored. They are checked the way Firecracker's own test
framework checks responses: null values count as absent, and an object may
hold no field its schema does not name.

TERN=build/asan/tern runs the same tests against the sanitizer build (as
`firecracker`, through a link made in a scratch directory)."""
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, test  # noqa: E402
from apiclient import (  # noqa: E402
    UnixHTTPConnection, parse_prometheus, needs_kvm, TernProcess, firecracker_setup)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, os.environ.get("TERN", "build/tern"))
WORK = tempfile.mkdtemp(prefix="tern-fcapi-")
FIRECRACKER = os.path.join(WORK, "firecracker")
KERNEL = os.path.join(WORK, "kernel")

# --- The specification's schemas, as this test needs them ------------------

S, I, B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}


def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required)}


def enum(*values):
    return {"type": "string", "enum": list(values)}


TOKEN_BUCKET = obj({"size": {"type": "integer", "minimum": 0},
                    "one_time_burst": {"type": "integer", "minimum": 0},
                    "refill_time": {"type": "integer", "minimum": 0}},
                   ["size", "refill_time"])
RATE_LIMITER = obj({"bandwidth": TOKEN_BUCKET, "ops": TOKEN_BUCKET})
BOOT_SOURCE = obj({"kernel_image_path": S, "initrd_path": S, "boot_args": S},
                  ["kernel_image_path"])
MACHINE = obj({"vcpu_count": {"type": "integer", "minimum": 1, "maximum": 32},
               "mem_size_mib": I, "smt": B, "track_dirty_pages": B,
               "huge_pages": enum("None", "Transparent", "2M"),
               "cpu_template": enum("C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None")},
              ["vcpu_count", "mem_size_mib"])
LOGGER = obj({"level": enum("Error", "Warning", "Info", "Debug", "Trace", "Off"),
              "log_path": S, "show_level": B, "show_log_origin": B, "module": S})
METRICS = obj({"metrics_path": S, "emit_id": B,
               "properties": {"type": "object", "values": S}}, ["metrics_path"])
DRIVE = obj({"drive_id": S, "partuuid": S, "is_root_device": B,
             "cache_type": enum("Unsafe", "Writeback"), "is_read_only": B,
             "path_on_host": S, "rate_limiter": RATE_LIMITER,
             "io_engine": enum("Sync", "Async"), "socket": S},
            ["drive_id", "is_root_device"])
NET = obj({"iface_id": S, "host_dev_name": S, "guest_mac": S,
           "mtu": {"type": "integer", "minimum": 68, "maximum": 65535},
           "rx_rate_limiter": RATE_LIMITER, "tx_rate_limiter": RATE_LIMITER},
          ["iface_id", "host_dev_name"])
VSOCK = obj({"guest_cid": {"type": "integer", "minimum": 3}, "uds_path": S, "vsock_id": S},
            ["guest_cid", "uds_path"])
BALLOON = obj({"amount_mib": I, "deflate_on_oom": B, "stats_polling_interval_s": I,
               "free_page_hinting": B, "free_page_reporting": B},
              ["amount_mib", "deflate_on_oom"])
BALLOON_STATS = obj(dict({k: I for k in (
    "target_pages", "actual_pages", "target_mib", "actual_mib", "swap_in", "swap_out",
    "major_faults", "minor_faults", "free_memory", "total_memory", "available_memory",
    "disk_caches", "hugetlb_allocations", "hugetlb_failures", "oom_kill", "alloc_stall",
    "async_scan", "direct_scan", "async_reclaim", "direct_reclaim")}),
    ["target_pages", "actual_pages", "target_mib", "actual_mib"])
ENTROPY = obj({"rate_limiter": RATE_LIMITER})
MMDS_CONFIG = obj({"version": enum("V1", "V2"), "network_interfaces": {"type": "array", "items": S},
                   "ipv4_address": S, "imds_compat": B}, ["network_interfaces"])
PMEM = obj({"id": S, "path_on_host": S, "root_device": B, "read_only": B,
            "rate_limiter": RATE_LIMITER}, ["id", "path_on_host"])
HOTPLUG = obj({"total_size_mib": I, "slot_size_mib": I, "block_size_mib": I})
HOTPLUG_STATUS = obj({"total_size_mib": I, "slot_size_mib": I, "block_size_mib": I,
                      "plugged_size_mib": I, "requested_size_mib": I})
CPU_CONFIG = obj({k: {"type": "array"} for k in (
    "kvm_capabilities", "cpuid_modifiers", "msr_modifiers", "reg_modifiers", "vcpu_features")})
FULL_CONFIG = obj({
    "balloon": BALLOON, "drives": {"type": "array", "items": DRIVE}, "boot-source": BOOT_SOURCE,
    "cpu-config": CPU_CONFIG, "logger": LOGGER, "machine-config": MACHINE, "metrics": METRICS,
    "memory-hotplug": HOTPLUG, "mmds-config": MMDS_CONFIG,
    "network-interfaces": {"type": "array", "items": NET},
    "pmem": {"type": "array", "items": PMEM}, "vsock": VSOCK, "entropy": ENTROPY})
INSTANCE_INFO = obj({"app_name": S, "id": S,
                     "state": enum("Not started", "Running", "Paused"), "vmm_version": S},
                    ["app_name", "id", "state", "vmm_version"])
VERSION = obj({"firecracker_version": S}, ["firecracker_version"])
ERROR = obj({"fault_message": S})

TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def check(schema, value, where="$"):
    """Raises AssertionError naming the first place value breaks schema."""
    kind = schema.get("type")
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), \
            f"{where}: {value!r} is not an integer"
        if "minimum" in schema:
            assert value >= schema["minimum"], f"{where}: {value} < {schema['minimum']}"
        if "maximum" in schema:
            assert value <= schema["maximum"], f"{where}: {value} > {schema['maximum']}"
    elif kind:
        assert isinstance(value, TYPES[kind]), f"{where}: {value!r} is not a {kind}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
    if kind == "object" and "properties" in schema:
        present = {k: v for k, v in value.items() if v is not None}
        for key in schema["required"]:
            assert key in present, f"{where}: required {key!r} is missing"
        for key, item in present.items():
            assert key in schema["properties"], f"{where}: {key!r} is not in the specification"
            check(schema["properties"][key], item, f"{where}.{key}")
    if kind == "object" and "values" in schema:
        for key, item in value.items():
            check(schema["values"], item, f"{where}.{key}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            if item is not None:
                check(schema["items"], item, f"{where}[{i}]")


@test
def the_checker_itself_fails_on_what_the_issue_found():
    # tern's earlier answers: each must be refused by check(), or the
    # conformance tests below prove nothing.
    bad = [
        (VERSION, {"firecracker_version": "0.1.0", "vmm": "tern"}),
        (LOGGER, {"level": "info", "show_level": False}),
        (FULL_CONFIG, {"boot-source": {"boot_args": "console=ttyS0"}}),
        (FULL_CONFIG, {"tern": {"serial": "stdio"}}),
        (MACHINE, {"vcpu_count": 1}),
        (DRIVE, {"drive_id": "a", "is_root_device": True, "cache_type": "None"}),
        (ERROR, {"fault_message": 1}),
    ]
    for schema, value in bad:
        try:
            check(schema, value)
        except AssertionError:
            continue
        raise AssertionError(f"check() accepted {value!r}")
    check(FULL_CONFIG, {"boot-source": None, "logger": {"level": "Info"}})


# --- tern started as firecracker -------------------------------------------

class Firecracker(TernProcess):
    """tern started as `firecracker` (or, tern_run, as `tern run` with its
    own defaults)."""
    STOP_TIMEOUT = 20

    def __init__(self, *extra, tern_run=False, wait=True):
        super().__init__(TERN if tern_run else FIRECRACKER, WORK, *extra,
                         firecracker=not tern_run, serial=None, wait=wait)

    def get(self, url, schema):
        status, body = self.api.get(url)
        assert status == 200, (url, status, body)
        check(schema, body, url)
        return body

    def fault(self, method, url, body, *words):
        status, reply = self.api.request(method, url, body)
        assert status == 400, (method, url, status, reply)
        check(ERROR, reply, url)
        for word in words:
            assert word in reply["fault_message"], (word, reply)
        return reply["fault_message"]


def image(name, size=1 << 20):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def setup():
    return firecracker_setup(TERN, FIRECRACKER, KERNEL)


@test
def fresh_instance_answers_in_the_specifications_shapes():
    with Firecracker("--id", "fc-test-1") as fc:
        info = fc.get("/", INSTANCE_INFO)
        assert info["id"] == "fc-test-1" and info["state"] == "Not started"
        version = fc.get("/version", VERSION)
        assert version["firecracker_version"][0].isdigit()
        machine = fc.get("/machine-config", MACHINE)
        # Firecracker's default machine: 1 vCPU, 128 MiB.
        assert machine["vcpu_count"] == 1 and machine["mem_size_mib"] == 128, machine
        doc = fc.get("/vm/config", FULL_CONFIG)
        assert doc["logger"]["level"] == "Info", doc
        assert doc.get("boot-source") is None, doc
        fc.fault("GET", "/balloon", None)
        fc.fault("PUT", "/nonexistent", {})


@test
def tern_run_keeps_its_own_default_memory_and_validates_when_unchanged():
    with Firecracker(tern_run=True) as t:
        assert t.get("/machine-config", MACHINE)["mem_size_mib"] == 256
        t.get("/vm/config", FULL_CONFIG)
        t.get("/version", VERSION)
        t.get("/", INSTANCE_INFO)


@test
def tern_run_shows_its_extensions_only_when_asked_for():
    with Firecracker("--on-reboot", "restart", "--serial", "none", tern_run=True) as t:
        status, doc = t.api.get("/vm/config")
        assert status == 200 and doc["tern"] == {"serial": "none", "on_reboot": "restart"}, doc


@test
def the_clients_requests_are_accepted():
    drives = [image(f"d{i}.img") for i in range(9)]
    with Firecracker() as fc:
        api = fc.api
        # firectl's machine: SMT on by default.
        api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "smt": True,
                                          "track_dirty_pages": True, "huge_pages": "None"})
        fc.fault("PATCH", "/machine-config", {"vcpu_count": 3}, "1 or even")
        api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL,
                                       "boot_args": "console=ttyS0 reboot=k panic=1"})
        # Kata Containers: 9 drives, Firecracker's default cache type.
        for i, path in enumerate(drives):
            api.ok("PUT", f"/drives/drive_{i}", {
                "drive_id": f"drive_{i}", "path_on_host": path, "is_root_device": i == 0,
                "is_read_only": False, "cache_type": "Unsafe", "io_engine": "Sync",
                "partuuid": "0eaa91a0-01" if i == 0 else None, "rate_limiter": {}})
        api.ok("PUT", "/logger", {"level": "Debug", "log_path": os.path.join(WORK, "fc.log"),
                                  "show_level": True, "show_log_origin": True,
                                  "module": "api"})
        api.ok("PUT", "/metrics", {"metrics_path": os.path.join(WORK, "fc.metrics"),
                                   "emit_id": True, "properties": {"pod": "p1"}})
        api.ok("PUT", "/entropy", {"rate_limiter": {"bandwidth": {"size": 0, "refill_time": 0}}})
        api.ok("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": True,
                                   "stats_polling_interval_s": 1})
        doc = fc.get("/vm/config", FULL_CONFIG)
        assert len(doc["drives"]) == 9 and doc["drives"][0]["cache_type"] == "Unsafe", doc
        assert doc["drives"][0]["partuuid"] == "0eaa91a0-01", doc
        assert doc["machine-config"]["smt"] and doc["machine-config"]["track_dirty_pages"]
        assert doc["logger"] == {"level": "Debug", "log_path": os.path.join(WORK, "fc.log"),
                                 "show_level": True, "show_log_origin": True,
                                 "module": "api"}, doc
        assert doc["metrics"]["emit_id"] and doc["metrics"]["properties"] == {"pod": "p1"}
        fc.get("/balloon", BALLOON)
        api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        with open(os.path.join(WORK, "fc.metrics")) as f:
            line = json.loads(f.readline())
        assert line["id"] == "anonymous-instance" and line["properties"] == {"pod": "p1"}, line
        with open(os.path.join(WORK, "fc.log")) as f:
            origins = [w for w in f.read().split() if w.startswith("origin=")]
        assert origins and all(o.startswith("origin=api_") for o in origins), origins


@test
def network_interfaces_take_limiters_and_mtu():
    with Firecracker() as fc:
        fc.api.ok("PUT", "/network-interfaces/eth0", {
            "iface_id": "eth0", "host_dev_name": "fctap0", "guest_mac": "06:00:ac:10:00:02",
            "rx_rate_limiter": {}, "tx_rate_limiter": {}, "mtu": 9000})
        doc = fc.get("/vm/config", FULL_CONFIG)
        assert doc["network-interfaces"][0]["mtu"] == 9000, doc
        fc.api.ok("PUT", "/network-interfaces/eth1", {
            "iface_id": "eth1", "host_dev_name": "fctap1",
            "rx_rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 1000}}})
        doc = fc.get("/vm/config", FULL_CONFIG)
        assert doc["network-interfaces"][1]["rx_rate_limiter"] == {
            "bandwidth": {"size": 1048576, "refill_time": 1000}}, doc
        # Kata's empty limiters show as absent, as Firecracker shows them.
        assert "rx_rate_limiter" not in doc["network-interfaces"][0], doc
        fc.fault("PUT", "/network-interfaces/eth1", {
            "iface_id": "eth1", "host_dev_name": "fctap1",
            "tx_rate_limiter": {"bandwidth": {"size": -1, "refill_time": 1}}}, "negative")
        fc.fault("PUT", "/network-interfaces/eth1", {
            "iface_id": "eth1", "host_dev_name": "fctap1", "mtu": 67}, "mtu")
        fc.fault("PATCH", "/network-interfaces/eth0", {"iface_id": "eth0",
                                                       "rx_rate_limiter": {}},
                 "started VM")


@test
def mmds_follows_firecrackers_rules():
    """test_mmds.py's pre-boot steps: the store and its limit, PATCH before
    PUT, mmds-config's checks and defaults, the V1 Deprecation header."""
    with Firecracker("--http-api-max-payload-size", "512000",
                     "--mmds-size-limit", "51200") as fc:
        api = fc.api
        assert api.get("/mmds") == (200, {})
        msg = fc.fault("PATCH", "/mmds", {"latest": {"meta-data": {"ami-id": "dummy"}}})
        assert "The MMDS data store is not initialized." in msg, msg
        small = {"latest": {"meta-data": {"ami-id": "dummy"}}}
        api.ok("PUT", "/mmds", small)
        big = {"latest": {"meta-data": {"ami-id": "smth", "secret_key": "a" * 51200}}}
        status, reply = api.put("/mmds", big)
        assert status == 413, (status, reply)
        check(ERROR, reply, "/mmds")
        assert api.get("/mmds") == (200, small)
        # Exactly at the limit, then one key more is 413 and changes nothing.
        full = {"latest": {"meta-data": {"ami-id": "smth", "secret_key": "a" * 51137}}}
        api.ok("PATCH", "/mmds", full)
        status, _ = api.patch("/mmds", {"latest": {"meta-data": {"secret_key2": "b" * 10}}})
        assert status == 413
        assert api.get("/mmds") == (200, full)
        api.ok("PATCH", "/mmds", {"latest": {"meta-data": {"secret_key": "a"}}})
        assert len(json.dumps(api.get("/mmds")[1], separators=(",", ":"))) == 59
        # The configuration: interfaces must exist, the address link-local.
        fc.fault("PUT", "/mmds/config", {"network_interfaces": ["eth0"]}, "does not correspond")
        api.ok("PUT", "/network-interfaces/eth0", {"iface_id": "eth0",
                                                   "host_dev_name": "fctap0"})
        fc.fault("PUT", "/mmds/config", {"network_interfaces": []}, "is empty")
        fc.fault("PUT", "/mmds/config", {"network_interfaces": ["eth0"], "ipv4_address": ""},
                 "not link local")
        fc.fault("PUT", "/mmds/config", {"network_interfaces": ["eth0"],
                                         "ipv4_address": "1.1.1.1"}, "not link local")
        fc.fault("PUT", "/mmds/config", {"network_interfaces": ["eth0"], "version": "V3"},
                 "V1 or V2")
        assert fc.get("/vm/config", FULL_CONFIG)["mmds-config"] is None
        for version, deprecated in ((None, True), ("V1", True), ("V2", False)):
            body = {"network_interfaces": ["eth0"]}
            if version:
                body["version"] = version
            conn = UnixHTTPConnection(fc.sock)
            conn.request("PUT", "/mmds/config", body=json.dumps(body))
            resp = conn.getresponse()
            resp.read()
            conn.close()
            assert resp.status == 204
            assert (resp.getheader("Deprecation") is not None) == deprecated, version
        api.ok("PUT", "/mmds/config", {"network_interfaces": ["eth0"], "version": "V2",
                                       "ipv4_address": "169.254.169.250",
                                       "imds_compat": True})
        assert fc.get("/vm/config", FULL_CONFIG)["mmds-config"] == {
            "version": "V2", "ipv4_address": "169.254.169.250",
            "network_interfaces": ["eth0"], "imds_compat": True}


@test
def boot_source_files_are_checked_when_put():
    with Firecracker() as fc:
        fc.fault("PUT", "/boot-source", {"kernel_image_path": os.path.join(WORK, "none")},
                 "kernel_image_path", "No such file")
        fc.fault("PUT", "/boot-source", {"kernel_image_path": WORK}, "not a regular file")
        fc.fault("PUT", "/boot-source", {"kernel_image_path": KERNEL,
                                         "initrd_path": os.path.join(WORK, "none")},
                 "initrd_path")
        fc.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        doc = fc.get("/vm/config", FULL_CONFIG)
        assert doc["boot-source"]["kernel_image_path"] == KERNEL


# Firecracker's metrics line as its own tests validate it
# (tests/host_tools/fcmetrics.py, validate_fc_metrics, x86_64): these
# groups with exactly these keys, block_<id>/net_<id> as block/net, and
# nothing else at the top but utc_timestamp_ms, id and properties. "*" marks
# a latency aggregate {min_us, max_us, sum_us}.
FC_BLOCK = ("activate_fails cfg_fails no_avail_buffer event_fails execute_fails "
            "invalid_reqs_count flush_count queue_event_count rate_limiter_event_count "
            "update_count update_fails read_bytes write_bytes read_count write_count "
            "rate_limiter_throttled_events io_engine_throttled_events remaining_reqs_count "
            "*read_agg *write_agg")
FC_NET = ("activate_fails cfg_fails no_rx_avail_buffer no_tx_avail_buffer event_fails "
          "rx_queue_event_count rx_event_rate_limiter_count rx_rate_limiter_throttled "
          "rx_tap_event_count rx_bytes_count rx_packets_count rx_fails rx_count "
          "tap_read_fails tap_write_fails tx_bytes_count tx_malformed_frames tx_fails "
          "tx_count tx_packets_count tx_queue_event_count tx_rate_limiter_event_count "
          "tx_rate_limiter_throttled tx_spoofed_mac_count tx_remaining_reqs_count "
          "*tap_write_agg")
FC_GROUPS = {
    "api_server": "process_startup_time_us process_startup_time_cpu_us",
    "balloon": "activate_fails inflate_count stats_updates_count stats_update_fails "
               "deflate_count event_fails free_page_report_count free_page_report_freed "
               "free_page_report_fails free_page_hint_count free_page_hint_freed "
               "free_page_hint_fails",
    "block": FC_BLOCK,
    "deprecated_api": "deprecated_http_api_calls",
    "get_api_requests": "instance_info_count machine_cfg_count mmds_count "
                        "vmm_version_count hotplug_memory_count",
    "i8042": "error_count missed_read_count missed_write_count read_count reset_count "
             "write_count",
    "latencies_us": "full_create_snapshot diff_create_snapshot load_snapshot pause_vm "
                    "resume_vm vmm_full_create_snapshot vmm_diff_create_snapshot "
                    "vmm_load_snapshot vmm_pause_vm vmm_resume_vm",
    "logger": "missed_metrics_count metrics_fails missed_log_count rate_limited_log_count",
    "mmds": "rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_invalid_token "
            "rx_no_token rx_count tx_bytes tx_count tx_errors tx_frames "
            "connections_created connections_destroyed",
    "net": FC_NET,
    "patch_api_requests": "drive_count drive_fails network_count network_fails "
                          "machine_cfg_count machine_cfg_fails mmds_count mmds_fails "
                          "hotplug_memory_count hotplug_memory_fails pmem_count pmem_fails",
    "put_api_requests": "actions_count actions_fails boot_source_count boot_source_fails "
                        "drive_count drive_fails logger_count logger_fails "
                        "machine_cfg_count machine_cfg_fails cpu_cfg_count cpu_cfg_fails "
                        "metrics_count metrics_fails network_count network_fails "
                        "mmds_count mmds_fails vsock_count vsock_fails pmem_count "
                        "pmem_fails serial_count serial_fails hotplug_memory_count "
                        "hotplug_memory_fails",
    "seccomp": "num_faults",
    "vcpu": "exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures "
            "kvmclock_ctrl_fails *exit_io_in_agg *exit_io_out_agg *exit_mmio_read_agg "
            "*exit_mmio_write_agg",
    "vmm": "panic_count",
    "uart": "error_count flush_count missed_read_count missed_write_count read_count "
            "write_count rate_limiter_dropped_bytes",
    "signals": "sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill",
    "vsock": "activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails "
             "ev_queue_event_fails muxer_event_fails conn_event_fails "
             "rx_queue_event_count tx_queue_event_count rx_bytes_count tx_bytes_count "
             "rx_packets_count tx_packets_count conns_added conns_killed conns_removed "
             "killq_resync tx_flush_fails tx_write_fails rx_read_fails",
    "entropy": "activate_fails entropy_event_fails entropy_event_count entropy_bytes "
               "host_rng_fails entropy_rate_limiter_throttled rate_limiter_event_count",
    "interrupts": "triggers config_updates",
    "pmem": "activate_fails cfg_fails event_fails queue_event_count "
            "rate_limiter_throttled_events rate_limiter_event_count",
    "memory_hotplug": "activate_fails queue_event_fails queue_event_count plug_count "
                      "plug_bytes plug_fails *plug_agg unplug_count unplug_bytes "
                      "unplug_fails unplug_discard_fails *unplug_agg state_count "
                      "state_fails *state_agg unplug_all_count unplug_all_fails "
                      "*unplug_all_agg",
}


def check_fc_group(name, group, keys):
    want = {k.lstrip("*"): k.startswith("*") for k in keys.split()}
    assert set(group) == set(want), (name, set(group) ^ set(want))
    for key, agg in want.items():
        if agg:
            assert set(group[key]) == {"min_us", "max_us", "sum_us"}, (name, key)
            assert all(isinstance(v, int) for v in group[key].values()), (name, key)
        else:
            assert isinstance(group[key], int), (name, key, group[key])


def check_fc_metrics_line(line):
    now_ms = time.time() * 1000
    assert abs(line["utc_timestamp_ms"] - now_ms) < 1000, line["utc_timestamp_ms"]
    for name, value in line.items():
        if name in ("utc_timestamp_ms", "id", "properties"):
            continue
        if name.startswith("block_"):
            check_fc_group(name, value, FC_BLOCK)
        elif name.startswith("net_"):
            check_fc_group(name, value, FC_NET)
        else:
            assert name in FC_GROUPS, f"{name}: not a group of Firecracker's"
    for name, keys in FC_GROUPS.items():
        assert name in line, f"{name} is missing"
        check_fc_group(name, line[name], keys)


def read_metrics_lines(path):
    with open(path) as f:
        return [json.loads(text) for text in f.read().splitlines()]


@test
def metrics_file_has_firecrackers_keys():
    path = os.path.join(WORK, "fc-keys.metrics")
    # As Firecracker's jailer passes it: its CLOCK_MONOTONIC start.
    start_us = int(time.monotonic() * 1e6)
    with Firecracker("--metrics-path", path, "--start-time-us", str(start_us),
                     "--start-time-cpu-us", "0", "--parent-cpu-time-us", "5") as fc:
        fc.api.ok("PUT", "/drives/rootfs", {"drive_id": "rootfs", "is_root_device": True,
                                            "path_on_host": image("keys.img"),
                                            "is_read_only": False})
        fc.fault("PUT", "/drives/bad", {"drive_id": "bad"})
        fc.get("/", INSTANCE_INFO)
        fc.get("/", INSTANCE_INFO)
        fc.get("/version", VERSION)
        fc.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        fc.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        first, second = read_metrics_lines(path)
        for line in (first, second):
            check_fc_metrics_line(line)
            assert "block_rootfs" in line and "id" not in line, sorted(line)
        # Counters: what happened since the last flush, the flush itself
        # included (Firecracker counts a request when it parses it).
        assert first["get_api_requests"]["instance_info_count"] == 2, first
        assert first["get_api_requests"]["vmm_version_count"] == 1, first
        assert first["put_api_requests"]["drive_count"] == 2, first
        assert first["put_api_requests"]["drive_fails"] == 1, first
        assert first["put_api_requests"]["actions_count"] == 1, first
        assert second["get_api_requests"]["instance_info_count"] == 0, second
        assert second["put_api_requests"]["drive_count"] == 0, second
        assert second["put_api_requests"]["actions_count"] == 1, second
        # Stored values stay from line to line.
        startup = first["api_server"]["process_startup_time_us"]
        assert 0 < startup < 60e6, first["api_server"]
        assert first["api_server"]["process_startup_time_cpu_us"] >= 5, first["api_server"]
        assert second["api_server"] == first["api_server"], second["api_server"]
    # tern run keeps tern's own line.
    path = os.path.join(WORK, "tern-keys.metrics")
    with Firecracker(tern_run=True) as t:
        t.api.ok("PUT", "/metrics", {"metrics_path": path})
        t.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        line = read_metrics_lines(path)[0]
        assert "process" in line and "put_api_requests" not in line, sorted(line)


@test
def log_and_metrics_fifos_need_no_reader_yet():
    log_fifo, metrics_fifo = os.path.join(WORK, "log.fifo"), os.path.join(WORK, "metrics.fifo")
    os.mkfifo(log_fifo)
    os.mkfifo(metrics_fifo)
    with Firecracker("--log-path", log_fifo, "--metrics-path", metrics_fifo,
                     "--level", "Info", "--show-level") as fc:
        fc.get("/", INSTANCE_INFO)
        fc.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        # A reader that comes later finds what was written before it.
        fd = os.open(log_fifo, os.O_RDONLY | os.O_NONBLOCK)
        text = os.read(fd, 65536).decode()
        os.close(fd)
        assert "level=info" in text and "api request" in text, text
        fd = os.open(metrics_fifo, os.O_RDONLY | os.O_NONBLOCK)
        line = os.read(fd, 65536).decode().splitlines()[0]
        os.close(fd)
        assert "utc_timestamp_ms" in json.loads(line)
        assert stat.S_ISFIFO(os.stat(log_fifo).st_mode)
    with Firecracker() as fc:
        fifo = os.path.join(WORK, "api-log.fifo")
        os.mkfifo(fifo)
        fc.api.ok("PUT", "/logger", {"log_path": fifo, "level": "Warning"})
        assert fc.get("/vm/config", FULL_CONFIG)["logger"]["level"] == "Warning"


@test
def payload_limit_is_the_command_lines():
    with Firecracker("--http-api-max-payload-size", "200") as fc:
        # Headers only: tern answers from Content-Length before the body.
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(fc.sock)
        conn.sendall(b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 201\r\n"
                     b"Content-Type: application/json\r\n\r\n")
        conn.settimeout(10)
        reply = conn.recv(4096).decode()
        conn.close()
        assert reply.startswith("HTTP/1.1 413") and "200 bytes" in reply, reply
        fc.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})


def machine_with_drives(fc, count, prefix, read_only=lambda i: False):
    """A 64 MiB machine with a balloon and count drives on fresh images."""
    fc.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
    fc.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
    fc.api.ok("PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False,
                                  "stats_polling_interval_s": 1})
    for i in range(count):
        fc.api.ok("PUT", f"/drives/d{i}", {"drive_id": f"d{i}", "is_root_device": False,
                                           "path_on_host": image(f"{prefix}{i}.img"),
                                           "is_read_only": read_only(i)})


@test
def running_instance_answers_in_the_specifications_shapes():
    needs_kvm()
    with Firecracker() as fc:
        machine_with_drives(fc, 16, "run", read_only=lambda i: i % 2 == 1)
        # virtio-mmio (Firecracker's transport) has room for 16 devices, one
        # IOAPIC pin each: 16 drives and a balloon do not fit.
        fc.fault("PUT", "/actions", {"action_type": "InstanceStart"}, "16 virtio-mmio")
    with Firecracker() as fc:
        # Kata Containers' 9 drives, with a balloon, on virtio-mmio.
        machine_with_drives(fc, 9, "mmio")
        fc.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        assert fc.get("/", INSTANCE_INFO)["state"] == "Running"
    metrics = os.path.join(WORK, "running.metrics")
    with Firecracker("--enable-pci", "--metrics-path", metrics) as fc:
        machine_with_drives(fc, 9, "pci")
        fc.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        assert fc.get("/", INSTANCE_INFO)["state"] == "Running"
        fc.get("/vm/config", FULL_CONFIG)
        fc.get("/machine-config", MACHINE)
        fc.get("/balloon", BALLOON)
        fc.get("/balloon/statistics", BALLOON_STATS)
        fc.api.ok("PATCH", "/vm", {"state": "Paused"})
        assert fc.get("/", INSTANCE_INFO)["state"] == "Paused"
        fc.fault("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
        # A running VM's devices in Firecracker's keys.
        fc.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        line = read_metrics_lines(metrics)[-1]
        check_fc_metrics_line(line)
        assert all(f"block_d{i}" in line for i in range(9)), sorted(line)
        assert line["latencies_us"]["pause_vm"] > 0, line["latencies_us"]


@test
def memory_hotplug_follows_firecrackers_rules():
    with Firecracker() as fc:
        # Before the start: only PUT; there is no device to ask or resize.
        fc.fault("GET", "/hotplug/memory", None, "started")
        fc.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 128}, "started")
        for body, words in (({"slot_size_mib": 128}, "total_size_mib"),
                            ({"total_size_mib": 100}, "at least the slot size"),
                            ({"total_size_mib": 384, "slot_size_mib": 256}, "multiple of the slot"),
                            ({"total_size_mib": 256, "block_size_mib": 3}, "power of 2"),
                            ({"total_size_mib": 256, "block_size_mib": 1}, "at least 2 MiB"),
                            ({"total_size_mib": 256, "slot_size_mib": 64}, "at least 128 MiB"),
                            ({"total_size_mib": 256, "slot_size_mib": 130,
                              "block_size_mib": 4}, "multiple of the block"),
                            ({"total_size_mib": 256, "size": 1}, "size"),
                            ({"total_size_mib": -1}, "total_size_mib"),
                            ({"total_size_mib": "256"}, "total_size_mib")):
            fc.fault("PUT", "/hotplug/memory", body, words)
        assert fc.get("/vm/config", FULL_CONFIG)["memory-hotplug"] is None
        fc.api.ok("PUT", "/hotplug/memory", {"total_size_mib": 1024})
        fc.api.ok("PUT", "/hotplug/memory", {"total_size_mib": 512, "slot_size_mib": 256,
                                             "block_size_mib": 4})
        assert fc.get("/vm/config", FULL_CONFIG)["memory-hotplug"] == {
            "total_size_mib": 512, "slot_size_mib": 256, "block_size_mib": 4}
    needs_kvm()
    metrics = os.path.join(WORK, "hotplug.metrics")
    with Firecracker("--metrics-path", metrics) as fc:
        fc.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
        fc.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        fc.api.ok("PUT", "/hotplug/memory", {"total_size_mib": 256})
        fc.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        assert fc.get("/hotplug/memory", HOTPLUG_STATUS) == {
            "total_size_mib": 256, "slot_size_mib": 128, "block_size_mib": 2,
            "plugged_size_mib": 0, "requested_size_mib": 0}
        fc.api.ok("PATCH", "/hotplug/memory", {"requested_size_mib": 128})
        assert fc.get("/hotplug/memory", HOTPLUG_STATUS)["requested_size_mib"] == 128
        fc.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 3}, "block_size_mib")
        fc.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 258}, "total_size_mib")
        fc.fault("PATCH", "/hotplug/memory", {}, "requested_size_mib")
        fc.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 2, "x": 1}, "x")
        fc.fault("PUT", "/hotplug/memory", {"total_size_mib": 256}, "before the VM starts")
        assert fc.get("/hotplug/memory", HOTPLUG_STATUS)["requested_size_mib"] == 128
        samples = parse_prometheus(fc.api.get("/metrics")[1])
        assert samples[("tern_memory_hotplug_requested_bytes", "")] == 128 << 20
        assert samples[("tern_memory_hotplug_region_bytes", "")] == 256 << 20
        assert samples[("tern_memory_hotplug_plugged_bytes", "")] == 0
        fc.api.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
        line = read_metrics_lines(metrics)[-1]
        check_fc_metrics_line(line)
        assert line["get_api_requests"]["hotplug_memory_count"] >= 2, line["get_api_requests"]
        assert line["patch_api_requests"]["hotplug_memory_fails"] >= 4, line["patch_api_requests"]
    # A VM without hotplug memory: the status is an error, not a crash.
    with Firecracker() as fc:
        fc.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
        fc.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
        fc.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        fc.fault("GET", "/hotplug/memory", None, "no hotpluggable memory")
        fc.fault("PATCH", "/hotplug/memory", {"requested_size_mib": 0}, "no hotpluggable memory")


# --- --seccomp-filter ----------------------------------------------------------

SECCOMP_RET_ALLOW, SECCOMP_RET_TRAP = 0x7fff0000, 0x00030000
BPF_RET_K, BPF_LD_W_ABS, BPF_JEQ_K = 0x06, 0x20, 0x15
# "write-only": load the call's number; write(2) (1) is allowed, any
# other traps.
WRITE_ONLY = [(BPF_LD_W_ABS, 0, 0, 0), (BPF_JEQ_K, 0, 1, 1),
              (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), (BPF_RET_K, 0, 0, SECCOMP_RET_TRAP)]


def filter_file(name, programs):
    """A filter file as seccompiler-bin writes it (bincode: the entry
    count, then per category its name and its instructions, every integer
    little-endian, u64 lengths): each program one `return action`, none,
    or WRITE_ONLY."""
    data = struct.pack("<Q", len(programs))
    for category, action in programs.items():
        data += struct.pack("<Q", len(category)) + category.encode()
        program = [] if action is None else WRITE_ONLY if action == "write-only" \
            else [(BPF_RET_K, 0, 0, action)]
        data += struct.pack("<Q", len(program)) + \
            b"".join(struct.pack("<HBBI", *insn) for insn in program)
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


@test
def seccomp_filter_files_replace_terns_filters():
    """Firecracker's --seccomp-filter: the file's api program on the API
    thread (vmm and vcpu on the others), instead of tern's own lists."""
    allow = filter_file("allow.bpf", {"vmm": SECCOMP_RET_ALLOW, "api": SECCOMP_RET_ALLOW,
                                      "vcpu": None})
    with Firecracker("--seccomp-filter", allow) as fc:
        assert fc.get("/", INSTANCE_INFO)["state"] == "Not started"
        fc.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
        assert "replace tern's own" in fc.stderr(), fc.stderr()
    # An api program that traps every call but write(2) stops tern at the
    # API thread's first request (it narrows then), with tern's report.
    trap = filter_file("trap.bpf", {"vmm": SECCOMP_RET_ALLOW, "api": "write-only",
                                    "vcpu": SECCOMP_RET_ALLOW})
    fc = Firecracker("--seccomp-filter", trap)
    try:
        fc.api.get("/")
    except OSError:
        pass
    status = fc.proc.wait(timeout=30)
    assert status == -signal.SIGSYS, (status, fc.stderr())
    assert "made the forbidden system call" in fc.stderr(), fc.stderr()
    # Bad files and option pairs: refused before anything runs.
    missing = filter_file("missing.bpf", {"vmm": SECCOMP_RET_ALLOW, "api": SECCOMP_RET_ALLOW})
    for argv, words in (
            (["--seccomp-filter", missing], "thread category 'vcpu' is missing"),
            (["--seccomp-filter", os.path.join(WORK, "none.bpf")], "none.bpf"),
            (["--seccomp-filter", allow, "--no-seccomp"], "not both")):
        result = subprocess.run([FIRECRACKER, "--api-sock", os.path.join(WORK, "x.sock")] + argv,
                                capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL)
        assert result.returncode != 0 and words in result.stderr, (argv, result)


if __name__ == "__main__":
    run(setup)
