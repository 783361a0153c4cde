#!/usr/bin/python3
"""The CPU a Linux guest sees under Firecracker's CPU settings, inside the
nested test host (an AMD CPU): machine-config.smt pairs the vCPUs as two
threads of one core (siblings, cores and thread_siblings_list as Linux
derives them from CPUID and the APIC IDs), a custom template's CPUID
modifier takes a feature away, and Firecracker's AMD template T2A boots with
the CPU model it describes."""
import json
import os
import sys
import tempfile
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

WORK = tempfile.mkdtemp(prefix="tern-cpu-")

# Leaf 1 ECX bit 23: POPCNT, which every x86_64 host KVM runs on has and
# Linux does not need.
CLEAR_POPCNT = {"leaf": "0x1", "subleaf": "0x0", "flags": 0,
                "modifiers": [{"register": "ecx", "bitmap": "0bxxxxxxxx0xxxxxxxxxxxxxxxxxxxxxxx"}]}


def config_file(name, machine, cpu_config=None):
    p = guestlib.paths()
    doc = {"boot-source": {"kernel_image_path": p["GUEST_BZIMAGE"],
                           "initrd_path": p["GUEST_INITRAMFS"]},
           "machine-config": dict({"vcpu_count": 2, "mem_size_mib": 256}, **machine)}
    if cpu_config is not None:
        doc["cpu-config"] = cpu_config
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def cpuinfo(guest, field):
    """Every processor's value of one /proc/cpuinfo field ("model", not
    "model name")."""
    lines = guest.shell(f"grep -E '^{field}[[:space:]]*:' /proc/cpuinfo").splitlines()
    return [line.split(":", 1)[1].strip() for line in lines]


def topology(guest, cpu, name):
    return guest.shell(f"cat /sys/devices/system/cpu/cpu{cpu}/topology/{name}")


@test
def smt_pairs_vcpus_as_threads_and_a_cpuid_modifier_hides_popcnt():
    path = config_file("smt.json", {"smt": True}, {"cpuid_modifiers": [CLEAR_POPCNT]})
    with guestlib.Guest(cpus=2, extra=["--config-file", path]) as guest:
        assert cpuinfo(guest, "siblings") == ["2", "2"], guest.shell("cat /proc/cpuinfo")
        assert cpuinfo(guest, "cpu cores") == ["1", "1"], guest.shell("cat /proc/cpuinfo")
        for cpu in (0, 1):
            assert topology(guest, cpu, "thread_siblings_list") == "0-1"
            assert topology(guest, cpu, "core_id") == "0"
        assert cpuinfo(guest, "apicid") == ["0", "1"]
        flags = cpuinfo(guest, "flags")[0].split()
        assert "popcnt" not in flags, flags
        assert "sse4_2" in flags, flags  # only the one bit went
        assert guest.reboot() == 0


@test
def without_smt_each_vcpu_is_a_core_and_popcnt_is_there():
    path = config_file("nosmt.json", {"smt": False})
    with guestlib.Guest(cpus=2, extra=["--config-file", path]) as guest:
        assert cpuinfo(guest, "siblings") == ["2", "2"]
        assert cpuinfo(guest, "cpu cores") == ["2", "2"]
        assert topology(guest, 0, "thread_siblings_list") == "0"
        assert topology(guest, 1, "thread_siblings_list") == "1"
        assert [topology(guest, cpu, "core_id") for cpu in (0, 1)] == ["0", "1"]
        assert "popcnt" in cpuinfo(guest, "flags")[0].split()
        assert guest.reboot() == 0


@test
def t2a_template_shows_its_cpu_model():
    """T2A presents an AWS T2 CPU (family 6, model 63) on an AMD host."""
    path = config_file("t2a.json", {"cpu_template": "T2A"})
    with guestlib.Guest(cpus=2, extra=["--config-file", path]) as guest:
        assert cpuinfo(guest, "cpu family") == ["6", "6"]
        assert cpuinfo(guest, "model") == ["63", "63"]
        flags = cpuinfo(guest, "flags")[0].split()
        for hidden in ("avx512f", "pdpe1gb", "sse4a", "clzero"):
            assert hidden not in flags, (hidden, flags)
        assert guest.reboot() == 0


class ApiTern(guestlib.Guest):
    """tern run --api-sock on a pty: the console through pexpect, the API
    through the socket."""

    def __init__(self, name):
        super().__init__()
        self.sock = os.path.join(WORK, f"{name}.sock")
        self.child = pexpect.spawn(guestlib.TERN, ["run", "--api-sock", self.sock,
                                                   "--log-level", "warn"],
                                   encoding="utf-8", codec_errors="replace",
                                   timeout=guestlib.BOOT_TIMEOUT, dimensions=(50, 200))
        self.child.logfile_read = guestlib._Collector(self._log)
        deadline = time.time() + 30
        while not os.path.exists(self.sock):
            assert self.child.isalive() and time.time() < deadline, "no API socket"
            time.sleep(0.05)
        wait_for_socket(self.sock)
        self.api = Api(self.sock)

    def __enter__(self):
        return self


@test
def snapshot_keeps_the_cpu_configuration():
    """SMT and a custom template (a CPUID and an MSR modifier) go into the
    snapshot: the restored VM reports them and its guest still sees its
    CPUs as it did."""
    p = guestlib.paths()
    snap, mem = os.path.join(WORK, "snap"), os.path.join(WORK, "mem")
    cpu_config = {"cpuid_modifiers": [CLEAR_POPCNT],
                  "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b0"}]}
    with ApiTern("a") as a:
        a.api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "smt": True})
        a.api.ok("PUT", "/cpu-config", cpu_config)
        a.api.ok("PUT", "/boot-source", {"kernel_image_path": p["GUEST_BZIMAGE"],
                                         "initrd_path": p["GUEST_INITRAMFS"],
                                         "boot_args": "console=ttyS0 reboot=k quiet"})
        a.api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        a.child.expect("TERN-GUEST-READY")
        a.child.expect("# ")
        assert "popcnt" not in cpuinfo(a, "flags")[0].split()
        a.api.ok("PATCH", "/vm", {"state": "Paused"})
        a.api.ok("PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem,
                                             "snapshot_type": "Full"})
    with ApiTern("b") as b:
        b.api.ok("PUT", "/snapshot/load", {"snapshot_path": snap,
                                           "mem_backend": {"backend_path": mem,
                                                           "backend_type": "File"},
                                           "resume_vm": True})
        doc = b.api.get("/vm/config")[1]
        assert doc["machine-config"]["smt"] is True, doc["machine-config"]
        assert doc["cpu-config"]["cpuid_modifiers"] == [CLEAR_POPCNT], doc.get("cpu-config")
        assert doc["cpu-config"]["msr_modifiers"][0]["addr"] == "0x10a", doc["cpu-config"]
        b.child.sendline("")
        b.child.expect("# ")
        assert cpuinfo(b, "siblings") == ["2", "2"]
        assert cpuinfo(b, "cpu cores") == ["1", "1"]
        assert "popcnt" not in cpuinfo(b, "flags")[0].split()
        assert b.exit_with("reboot -f") == 0


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    return None


if __name__ == "__main__":
    run(setup)
