#!/usr/bin/python3
"""Firecracker's CPU settings through the API: machine-config.smt and
cpu_template (tern's templates and Firecracker's static ones), PUT
/cpu-config (custom templates), each checked strictly as it comes and, where
only the host can say, at InstanceStart. A fake bzImage (headers only) lets
InstanceStart build a real VM on /dev/kvm; without one (this machine, no
KVM) the start-time tests skip and tests/run api runs them in the test host.

TERN=build/asan/tern runs the same tests against the sanitizer build."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from tap import run, skip, test  # noqa: E402
from apiclient import fake_bzimage, TernProcess  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, os.environ.get("TERN", "build/tern"))
WORK = tempfile.mkdtemp(prefix="tern-cpu-api-")
KERNEL = os.path.join(WORK, "kernel")

# Leaf 1 ECX bit 23 (POPCNT) cleared.
CLEAR_POPCNT = {"leaf": "0x1", "subleaf": "0x0", "flags": 0,
                "modifiers": [{"register": "ecx", "bitmap": "0bxxxxxxxx0xxxxxxxxxxxxxxxxxxxxxxx"}]}


class Tern(TernProcess):
    STOP_TIMEOUT = 20

    def __init__(self, *extra):
        super().__init__(TERN, WORK, *extra)


def host_vendor():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    return ""


def need_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no /dev/kvm here: tests/run api runs this in the test host")


@test
def smt_and_templates_are_recorded_and_shown():
    with Tern() as t:
        t.api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256, "smt": True,
                                             "cpu_template": "T2A"})
        machine = t.api.get("/machine-config")[1]
        assert (machine["smt"], machine["cpu_template"]) == (True, "T2A"), machine
        for name in ("C3", "T2", "T2S", "T2CL", "None", "minimal", "x86-64-v2", "host"):
            t.api.ok("PATCH", "/machine-config", {"cpu_template": name})
        assert t.api.get("/machine-config")[1]["cpu_template"] == "None"


@test
def custom_template_is_kept_shown_and_replaced_as_in_firecracker():
    with Tern() as t:
        t.api.ok("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                             "cpu_template": "T2"})
        body = {"kvm_capabilities": ["!56"], "cpuid_modifiers": [CLEAR_POPCNT],
                "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b0"}]}
        t.api.ok("PUT", "/cpu-config", body)
        # The custom template replaced T2 (the last one set wins).
        assert t.api.get("/machine-config")[1]["cpu_template"] == "None"
        # A PUT /machine-config without cpu_template keeps it.
        t.api.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})
        cpu = t.api.get("/vm/config")[1]["cpu-config"]
        assert cpu["kvm_capabilities"] == ["!56"], cpu
        assert cpu["cpuid_modifiers"] == [CLEAR_POPCNT], cpu
        assert cpu["msr_modifiers"] == [{"addr": "0x10a", "bitmap": "0b" + "x" * 63 + "0"}], cpu
        # A static template set later replaces it.
        t.api.ok("PATCH", "/machine-config", {"cpu_template": "C3"})
        assert "cpu-config" not in t.api.get("/vm/config")[1]


@test
def bad_cpu_config_is_refused_naming_the_field():
    with Tern() as t:
        f = t.api.fault
        f("PUT", "/cpu-config", {"cpuid_modifiers": [{"leaf": "0x1"}]},
          words=["cpu-config.cpuid_modifiers[0].subleaf", "missing"])
        f("PUT", "/cpu-config", {"cpuid_modifiers": [dict(CLEAR_POPCNT, leaf="one")]},
          words=["cpu-config.cpuid_modifiers[0].leaf 'one'"])
        f("PUT", "/cpu-config", {"cpuid_modifiers": [dict(CLEAR_POPCNT, flags=-1)]},
          words=["cpuid_modifiers[0].flags"])
        f("PUT", "/cpu-config",
          {"cpuid_modifiers": [dict(CLEAR_POPCNT, modifiers=[{"register": "r8", "bitmap": "0b1"}])]},
          words=["cpuid_modifiers[0].modifiers[0].register 'r8'"])
        f("PUT", "/cpu-config",
          {"cpuid_modifiers": [dict(CLEAR_POPCNT, modifiers=[{"register": "eax",
                                                              "bitmap": "0b" + "1" * 33}])]},
          words=["cpuid_modifiers[0].modifiers[0].bitmap"])
        f("PUT", "/cpu-config", {"msr_modifiers": [{"addr": "0x10a", "bitmap": "0b1y"}]},
          words=["msr_modifiers[0].bitmap '0b1y'"])
        f("PUT", "/cpu-config", {"kvm_capabilities": ["17x"]},
          words=["kvm_capabilities[0] '17x'"])
        f("PUT", "/cpu-config", {"reg_modifiers": [{"addr": "0x1", "bitmap": "0b1"}]},
          words=["cpu-config.reg_modifiers", "aarch64"])
        f("PUT", "/cpu-config", {"vcpu_features": [{"index": 0, "bitmap": "0b1"}]},
          words=["cpu-config.vcpu_features"])
        f("PUT", "/cpu-config", {"cpuid_modifiers": [], "turbo": 1},
          words=["unknown field 'turbo'"])
        f("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                     "cpu_template": "V1N1"}, words=["V1N1", "aarch64"])
        f("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                     "cpu_template": "T9"}, words=["'T9' is unknown"])
        # Nothing refused was kept.
        assert "cpu-config" not in t.api.get("/vm/config")[1]


def start(t, machine=None, cpu_config=None):
    t.api.ok("PUT", "/boot-source", {"kernel_image_path": KERNEL})
    t.api.ok("PUT", "/machine-config", machine or {"vcpu_count": 2, "mem_size_mib": 128})
    if cpu_config is not None:
        t.api.ok("PUT", "/cpu-config", cpu_config)
    return t.api.request("PUT", "/actions", {"action_type": "InstanceStart"})


def expect_start_refused(machine, cpu_config, words):
    with Tern() as t:
        status, reply = start(t, machine, cpu_config)
        assert status == 400, (status, reply)
        for word in words:
            assert word in reply["fault_message"], (word, reply)


@test
def static_templates_start_on_their_vendor_only():
    need_kvm()
    vendor = host_vendor()
    mine, other = (["T2A"], ["C3", "T2", "T2S", "T2CL"]) if vendor == "AuthenticAMD" else \
        (["C3", "T2", "T2S", "T2CL"], ["T2A"])
    want = "Intel" if vendor == "AuthenticAMD" else "AMD"
    for name in other:
        expect_start_refused({"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": name}, None,
                             [f"CPU template {name} is a template for {want} CPUs", vendor])
    for name in mine:
        with Tern() as t:
            status, reply = start(t, {"vcpu_count": 2, "mem_size_mib": 128, "smt": True,
                                      "cpu_template": name})
            # A host CPU model the template cannot take (an old one
            # without a leaf it changes) is refused by name, not crashed.
            assert status == 204 or (status == 400 and name in reply["fault_message"]), reply


@test
def custom_template_starts_and_its_capabilities_are_checked():
    need_kvm()
    with Tern() as t:
        # 0 is KVM_CAP_IRQCHIP, which every x86 KVM has.
        status, reply = start(t, cpu_config={"kvm_capabilities": ["0", "!999999"],
                                             "cpuid_modifiers": [CLEAR_POPCNT]})
        assert status == 204, reply
    # 999999 is no capability at all.
    expect_start_refused(None, {"kvm_capabilities": ["999999"]},
                         ["cpu-config.kvm_capabilities", "lacks capability 999999"])
    # A leaf KVM does not report (0x4fffffff is in no CPU's range).
    expect_start_refused(None, {"cpuid_modifiers": [dict(CLEAR_POPCNT, leaf="0x4fffffff")]},
                         ["CPUID leaf 0x4fffffff"])
    # An MSR KVM does not give a guest.
    expect_start_refused(None, {"msr_modifiers": [{"addr": "0xdeadbeef", "bitmap": "0b1"}]},
                         ["MSR 0xdeadbeef"])


def setup():
    if not os.access(TERN, os.X_OK):
        return f"{TERN} is missing: the build failed"
    with open(KERNEL, "wb") as f:
        f.write(fake_bzimage())
    return None


if __name__ == "__main__":
    run(setup)
