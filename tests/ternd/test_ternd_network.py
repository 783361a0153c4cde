#!/usr/bin/python3
"""ternd's networks end to end, in network namespaces this test creates and
deletes (ternd runs in one of its own, so its bridge, NAT table, dnsmasq
and taps are all there; nothing outside is touched): definitions good and
bad, a managed network's bridge, address, nftables table and dnsmasq made
and removed, kill -9 of ternd with dnsmasq re-attached or restarted, a VM's
tap made, put on the bridge and deleted (also when the VM dies while ternd
is down), and refusals that leave nothing half-created. Then two Debian
kernel + busybox guests on a NAT+DHCP network: each gets a DHCP address,
one pings the other by it, and one reaches a namespace standing for the
outside world only through the masquerade.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "guest"))
from tap import test, test_in_builds_where, test_with_timeout  # noqa: E402
from ternd_host import (main, GUEST, Host, console_log as console, guest_paths, has_test_hooks,  # noqa: E402
                        netns, network_tools_missing, setup as host_setup, sh,
                        wait_console, wait_until)

SUBNET = "192.168.122.0/24"
BRIDGE = "ternbr0"


def links(ns):
    return json.loads(sh(*ns, "ip", "-j", "link", "show").stdout)


def link(ns, name):
    return next((entry for entry in links(ns) if entry["ifname"] == name), None)


def nft_tables(ns):
    return sh(*ns, "nft", "list", "tables").stdout


def dnsmasq_pids(h):
    return h.dnsmasq_pids()


def network(h, name):
    return json.loads(h.ok("net-info", name, "--json"))


def vm_with_network(h, name, network="default", kernel=GUEST, **extra):
    iface = {"iface_id": "eth0", "network": network}
    return h.define(name, kernel=kernel, **{"network-interfaces": [iface]}, **extra)


def kill_dnsmasq(h):
    for pid in dnsmasq_pids(h):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not dnsmasq_pids(h), what="dnsmasq gone")


@test
def bad_network_definitions_are_refused():
    with netns() as ns, Host() as h:
        h.start(wrapper=ns)
        sh(*ns, "ip", "tuntap", "add", "taken0", "mode", "tap")
        h.fails("net-define", "n", "--bridge", "b0", "--subnet", "10.0.0.1/24",
                words=("host bits",))
        h.fails("net-define", "n", "--bridge", "b0", "--subnet", "10.0.0.0/31",
                words=("8 to 30",))
        h.fails("net-define", "n", "--bridge", "b0", "--subnet", "10.0.0/24",
                words=("A.B.C.D/N",))
        h.fails("net-define", "n", "--bridge", "b0", "--nat", words=("takes no subnet",))
        h.fails("net-define", "n", "--bridge", "b0", "--kind", "managed",
                words=("needs a subnet",))
        h.fails("net-define", "n", "--bridge", "b0", "--kind", "nat", words=("use managed",))
        h.fails("net-define", "n", "--bridge", "a/b", words=("bridge name",))
        h.fails("net-define", "n", "--bridge", "x" * 16, words=("1 to 15",))
        h.fails("net-define", "../etc", "--bridge", "b0", words=("network name",))
        h.fails("net-define", "n", "--bridge", "taken0", "--subnet", "10.0.0.0/24",
                words=("exists already", "bridge network"))
        status, _ = h.api().request("PUT", "/v1/networks/n",
                                    {"bridge": "b0", "subnet": "10.0.0.0/24", "vlan": 3})
        assert status == 400, status
        h.ok("net-define", "n", "--bridge", "b0", "--subnet", "10.0.0.0/24")
        h.fails("net-define", "n", "--bridge", "b1", "--subnet", "10.1.0.0/24",
                words=("already exists",))
        h.fails("net-define", "m", "--bridge", "b0", words=("belongs to network 'n'",))
        h.ok("net-define", "byo", "--bridge", "nosuchbr")
        h.fails("net-start", "byo", words=("does not exist",))
        h.fails("net-start", "nosuch", words=("no network named 'nosuch'",))
        # A bridge network on something that is not a bridge.
        h.ok("net-define", "dummy", "--bridge", "taken0")
        h.fails("net-start", "dummy", words=("not a bridge",))
        assert sorted(n["name"] for n in json.loads(h.ok("net-list", "--json"))["networks"]) \
            == ["byo", "dummy", "n"]
        assert not link(ns, "b0"), "a failed or inactive network made a bridge"
        h.stop()


@test
def a_managed_network_is_built_and_removed():
    with netns() as ns, Host() as h:
        h.start(wrapper=ns)
        h.ok("net-define", "default", "--bridge", BRIDGE, "--subnet", SUBNET, "--nat",
             "--dhcp")
        assert network(h, "default")["active"] is False
        assert h.ok("net-start", "default") == "Network 'default' started\n"
        br = link(ns, BRIDGE)
        assert br and "UP" in br["flags"], br
        assert re.match(r"52:54:00:", br["address"]), br
        addrs = sh(*ns, "ip", "-4", "-o", "addr", "show", BRIDGE).stdout
        assert "192.168.122.1/24" in addrs, addrs
        assert "ternd-default" in nft_tables(ns)
        rules = sh(*ns, "nft", "list", "table", "ip", "ternd-default").stdout
        assert "192.168.122.0/24" in rules and "masquerade" in rules, rules
        assert sh(*ns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        info = network(h, "default")
        assert info["active"] and info["gateway"] == "192.168.122.1", info
        assert dnsmasq_pids(h) == [info["dnsmasq_pid"]], (dnsmasq_pids(h), info)
        conf = os.path.join(h.state, "networks", "default", "dnsmasq.conf")
        assert f"interface={BRIDGE}" in open(conf).read()
        table = h.ok("net-list").splitlines()
        assert table[2].split()[:3] == ["default", "active", "managed"], table
        h.fails("net-start", "default", words=("already active",))
        h.fails("net-undefine", "default", words=("active", "net-destroy"))

        # kill -9: dnsmasq and the bridge stay, and the next ternd follows
        # the same dnsmasq again.
        pid = info["dnsmasq_pid"]
        h.kill9()
        assert dnsmasq_pids(h) == [pid] and link(ns, BRIDGE)
        h.start(wrapper=ns)
        assert network(h, "default")["dnsmasq_pid"] == pid
        assert "re-attached to its dnsmasq" in h.stderr()
        # dnsmasq dies while ternd is down: the next ternd starts another.
        h.kill9()
        kill_dnsmasq(h)
        h.start(wrapper=ns)
        new = network(h, "default")["dnsmasq_pid"]
        assert new and new != pid and dnsmasq_pids(h) == [new]
        assert "stopped while ternd was not running" in h.stderr()

        assert h.ok("net-destroy", "default") == "Network 'default' destroyed\n"
        assert not link(ns, BRIDGE)
        assert "ternd-default" not in nft_tables(ns)
        wait_until(lambda: not dnsmasq_pids(h), what="dnsmasq stopped")
        h.fails("net-destroy", "default", words=("not active",))
        h.ok("net-undefine", "default")
        assert not os.path.exists(os.path.join(h.state, "networks", "default"))
        kinds = [(e["object"], e["kind"]) for e in h.events() if e["object"] == "network"]
        assert kinds[0] == ("network", "defined") and ("network", "started") in kinds \
            and kinds[-2:] == [("network", "stopped"), ("network", "undefined")], kinds
        h.stop()


@test
def a_vm_gets_a_tap_on_the_bridge_and_loses_it_when_it_stops():
    with netns() as ns, Host() as h:
        h.start(wrapper=ns)
        h.ok("net-define", "default", "--bridge", BRIDGE, "--subnet", SUBNET)
        # Refused with nothing made: an unknown network, both a network
        # and a tap, a network not started.
        path = os.path.join(h.dir, "bad.json")
        for iface, words in (({"iface_id": "eth0", "network": "nosuch"}, ("no network named",)),
                             ({"iface_id": "eth0", "network": "default",
                               "host_dev_name": "tap0"}, ("give one of them",)),
                             ({"iface_id": "eth0", "network": 7}, ("a network name",))):
            with open(path, "w") as f:
                json.dump({"boot-source": {"kernel_image_path": GUEST},
                           "network-interfaces": [iface]}, f)
            h.fails("define", "bad", path, words=words)
        assert "bad" not in h.listing("--all")
        vm_with_network(h, "web")
        assert network(h, "default")["used_by"] == ["web"]
        h.fails("net-undefine", "default", words=("named by the definition of web",))
        h.fails("start", "web", words=("not active", "net-start default"))
        assert h.info("web")["state"] == "shut off" and not h.tern_pids()
        assert not [entry for entry in links(ns) if entry["ifname"].startswith("tn")]

        h.ok("net-start", "default")
        h.ok("start", "web")
        taps = [entry for entry in links(ns) if entry["ifname"].startswith("tn")]
        assert len(taps) == 1 and taps[0].get("master") == BRIDGE, taps
        tap = taps[0]["ifname"]
        config = json.load(open(os.path.join(h.state, "vms", "web", "config.json")))
        iface = config["network-interfaces"][0]
        assert iface["host_dev_name"] == tap and iface["guest_mac"].startswith("52:54:00:"), iface
        assert "network" not in iface
        # The stored definition keeps the network's name.
        assert h.info("web")["config"]["network-interfaces"][0]["network"] == "default"
        assert network(h, "default")["attached"] == ["web"]
        h.fails("net-destroy", "default", words=("running VMs", "web"))

        # kill -9 of ternd: the tap stays with the running VM; a destroy
        # by the next ternd deletes it.
        h.kill9()
        h.start(wrapper=ns)
        assert link(ns, tap)
        h.ok("destroy", "web")
        assert not link(ns, tap), "the tap outlived its VM"
        assert network(h, "default")["attached"] == []

        # The VM dies while ternd is down: the next ternd deletes its tap.
        h.ok("start", "web")
        assert link(ns, tap)
        h.kill9()
        for pid in h.tern_pids():
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not h.tern_pids(), what="tern gone")
        h.start(wrapper=ns)
        assert h.info("web")["state"] == "shut off"
        assert not link(ns, tap), "a dead VM's tap survived ternd's restart"

        # A start that fails (tern cannot load the "kernel") leaves no tap.
        vm_with_network(h, "broken", kernel=os.path.abspath(__file__))
        h.fails("start", "broken", words=("failed to start",))
        assert [entry["ifname"] for entry in links(ns) if entry["ifname"].startswith("tn")] \
            == [], "a failed start left its tap"
        h.ok("undefine", "broken")

        # The same MAC and tap at every start.
        h.ok("start", "web")
        again = json.load(open(os.path.join(h.state, "vms", "web", "config.json")))
        assert again["network-interfaces"][0] == iface
        h.ok("destroy", "web")
        h.ok("undefine", "web")
        h.ok("net-destroy", "default")
        h.ok("net-undefine", "default")
        h.stop()


@test_in_builds_where(has_test_hooks)
def kill_9_in_the_middle_leaves_nothing_half_made():
    with netns() as ns, Host() as h:
        # Inside the define's transaction: no network.
        h.start(wrapper=ns, env={"TERND_TEST_KILL_AT": "network"})
        h.ctl("net-define", "default", "--bridge", BRIDGE, "--subnet", SUBNET, "--dhcp")
        h.proc.wait(timeout=10)
        h.start(wrapper=ns)
        assert json.loads(h.ok("net-list", "--json"))["networks"] == []
        h.ok("net-define", "default", "--bridge", BRIDGE, "--subnet", SUBNET, "--nat",
             "--dhcp")
        h.kill9()
        # Recorded active, bridge and NAT made, dnsmasq not yet: the next
        # ternd builds the rest.
        h.start(wrapper=ns, env={"TERND_TEST_KILL_AT": "network-build"})
        h.ctl("net-start", "default")
        h.proc.wait(timeout=10)
        assert link(ns, BRIDGE) and not dnsmasq_pids(h)
        h.start(wrapper=ns)
        info = network(h, "default")
        assert info["active"] and dnsmasq_pids(h) == [info["dnsmasq_pid"]], info
        assert "ternd-default" in nft_tables(ns)
        # A VM's taps recorded, not yet made: the next ternd forgets them,
        # and the VM starts normally after.
        vm_with_network(h, "web")
        h.kill9()
        h.start(wrapper=ns, env={"TERND_TEST_KILL_AT": "taps"})
        h.ctl("start", "web")
        h.proc.wait(timeout=10)
        assert not h.tern_pids()
        h.start(wrapper=ns)
        assert h.info("web")["state"] == "shut off"
        assert network(h, "default")["attached"] == []
        assert not [entry for entry in links(ns) if entry["ifname"].startswith("tn")]
        h.ok("start", "web")
        h.ok("destroy", "web")
        h.ok("undefine", "web")
        h.ok("net-destroy", "default")
        assert not link(ns, BRIDGE) and not dnsmasq_pids(h)
        h.stop()


def linux_vm(h, name, kernel, initrd, ping):
    boot = f"console=ttyS0 reboot=k quiet tern.mode=dhcp tern.ping={ping}"
    doc = {"boot-source": {"kernel_image_path": kernel, "initrd_path": initrd,
                           "boot_args": boot},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 192},
           "network-interfaces": [{"iface_id": "eth0", "network": "default"}]}
    path = os.path.join(h.dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    h.ok("define", name, path)


@test_with_timeout(900)
def two_guests_get_dhcp_addresses_ping_each_other_and_reach_out_through_nat():
    kernel, initrd = guest_paths()
    if not (os.path.exists(kernel) and os.path.exists(initrd)):
        raise AssertionError(f"{kernel} or {initrd} missing: guest/build.sh")
    with netns() as ns, netns() as outside, Host() as h:
        # "The outside world": a namespace joined by a veth pair, with no
        # route back to the guests' subnet; only a masqueraded ping
        # returns.
        holder = ns[1].split("=", 1)[1]
        sh(*outside, "ip", "link", "add", "wan0", "type", "veth", "peer", "name", "wan1",
           "netns", holder)
        sh(*outside, "ip", "addr", "add", "10.99.0.1/24", "dev", "wan0")
        sh(*outside, "ip", "link", "set", "wan0", "up")
        sh(*ns, "ip", "addr", "add", "10.99.0.2/24", "dev", "wan1")
        sh(*ns, "ip", "link", "set", "wan1", "up")

        h.start(wrapper=ns)
        h.ok("net-define", "default", "--bridge", BRIDGE, "--subnet", SUBNET, "--nat",
             "--dhcp")
        h.ok("net-start", "default")
        linux_vm(h, "a", kernel, initrd, "10.99.0.1")
        h.ok("start", "a")
        a_ip = wait_console(h, "a", r"TERN-DHCP (192\.168\.122\.\d+)\r?\n").group(1)
        wait_console(h, "a", r"TERN-PING 10\.99\.0\.1 (ok|failed)")
        assert "TERN-PING 10.99.0.1 ok" in console(h, "a"), "NAT: no answer from outside"

        linux_vm(h, "b", kernel, initrd, a_ip)
        h.ok("start", "b")
        b_ip = wait_console(h, "b", r"TERN-DHCP (192\.168\.122\.\d+)\r?\n").group(1)
        assert b_ip != a_ip
        wait_console(h, "b", rf"TERN-PING {re.escape(a_ip)} (ok|failed)")
        assert f"TERN-PING {a_ip} ok" in console(h, "b"), "b cannot ping a"

        leases = {lease["vm"]: lease["ip"] for lease in network(h, "default")["leases"]}
        assert leases == {"a": a_ip, "b": b_ip}, (leases, a_ip, b_ip)
        info = h.ok("net-info", "default")
        assert a_ip in info and "Leases:" in info, info

        for name in ("a", "b"):
            h.ok("destroy", name)
            h.ok("undefine", name)
        assert not [entry for entry in links(ns) if entry["ifname"].startswith("tn")]
        h.ok("net-destroy", "default")
        assert not link(ns, BRIDGE) and not dnsmasq_pids(h)
        h.stop()


def setup():
    reason = host_setup()
    if reason:
        return reason
    return network_tools_missing()


if __name__ == "__main__":
    main(setup)
