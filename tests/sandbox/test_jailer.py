#!/usr/bin/python3
"""tern jailer on this machine, as root, without KVM: a copy of the static
/bin/busybox is jailed under a temporary chroot base in /tmp, and what it
sees from inside (its shell's output) and what the host sees of it
(/proc/PID, the jail directory, the cgroup) are checked. Each test removes
its jail directory, its cgroups and its processes, also when it fails."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, skip, test  # noqa: E402
from apiclient import Api  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.abspath(os.environ.get("TERN", os.path.join(ROOT, "build", "tern")))
BUSYBOX = "/bin/busybox"
UID, GID = 23456, 23457
# The jailed busybox finds only its in-shell applets without a PATH: the
# others are run as /busybox APPLET.
BB = "/busybox"


def cgroup2_mount():
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


def cgroup_v1_mount(controller):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup" and controller in fields[3].split(","):
                return fields[1]
    return None


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(predicate, timeout=10, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own unreaped child) counts as gone.
    return read(f"/proc/{pid}/stat").split(") ")[1][0] != "Z"


class Jail:
    """One temporary chroot base and one jail ID; use with 'with'."""

    def __init__(self, name, exec_name="busybox"):
        self.base = tempfile.mkdtemp(prefix="tern-jailer-test-", dir="/tmp")
        self.id = f"{name.replace('_', '-')}-{os.getpid()}"
        self.exec_name = exec_name
        self.root = os.path.join(self.base, exec_name, self.id, "root")
        self.procs = []
        self.pids = []
        self.cgroups = []

    def __enter__(self):
        return self

    def argv(self, *options, script=None, exec_file=BUSYBOX, program=TERN):
        argv = [program, "jailer", "--id", self.id, "--exec-file", exec_file,
                "--uid", str(UID), "--gid", str(GID), "--chroot-base-dir", self.base]
        if program != TERN:
            del argv[1]
        argv += list(options)
        if script is not None:
            argv += ["--", "sh", "-c", script]
        return argv

    def run(self, *options, script=None, timeout=30, **kwargs):
        """Runs the jailer to its end. Its output goes through files, not
        pipes: a program it leaves running keeps its stdout and stderr."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run(self.argv(*options, script=script, **kwargs),
                                    stdout=out, stderr=err, text=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            result.stdout, result.stderr = out.read(), err.read()
        return result

    def start(self, *options, script=None, pass_fds=(), env=None):
        proc = subprocess.Popen(self.argv(*options, script=script), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                pass_fds=pass_fds, env=env)
        self.procs.append(proc)
        return proc

    def pid_file(self):
        return int(read(os.path.join(self.root, f"{self.exec_name}.pid")))

    def __exit__(self, *exc):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what=f"pid {pid} to end")
        for path in reversed(self.cgroups):
            if os.path.isdir(path):
                wait_for(lambda: not read(os.path.join(path, "cgroup.procs")).strip(),
                         what=f"{path} to empty")
                os.rmdir(path)
        shutil.rmtree(self.base, ignore_errors=True)
        return False


def expect_error(result, status, *words):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == status, f"status {result.returncode}, stderr {result.stderr!r}"
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("tern: "), lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


def proc_status(pid):
    fields = {}
    for line in read(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def setup():
    if os.geteuid() != 0:
        return "the jailer needs root"
    if not os.access(TERN, os.X_OK):
        return f"{TERN} is missing: the build failed"
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} is missing (Debian's busybox-static)"
    return None


@test
def help_describes_every_option():
    result = subprocess.run([TERN, "jailer", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for word in ("--id", "--exec-file", "--uid", "--gid", "--chroot-base-dir", "/srv/jailer",
                 "--netns", "--daemonize", "--new-pid-ns", "--cgroup-version", "--cgroup FILE",
                 "--parent-cgroup", "fsize=N", "no-file=N", "2048", "pivot_root",
                 "no_new_privs", "statically linked", "Exit status"):
        assert word in result.stdout, word
    assert "jailer" in subprocess.run([TERN, "--help"], capture_output=True, text=True).stdout


@test
def usage_errors_are_one_line_with_status_2():
    with Jail("usage") as jail:
        argv = jail.argv()
        argv[argv.index("--id") + 1] = "no_underscores"
        expect_error(subprocess.run(argv, capture_output=True, text=True), 2, "--id",
                     "hyphens")
        expect_error(jail.run("--resource-limit", "cpu=1"), 2, "unknown resource")
        expect_error(jail.run("--cgroup", "memory.max"), 2, "FILE=VALUE")
        expect_error(subprocess.run([TERN, "jailer", "--id", "a"], capture_output=True,
                                    text=True), 2, "--exec-file is required")
        assert not os.path.exists(os.path.join(jail.base, "busybox"))


@test
def jailed_program_sees_only_its_jail_as_its_user():
    script = ("id -u; id -g; id -G; ulimit -n; echo $$; "
              "[ -e /etc/hostname ] && echo host-visible || echo host-hidden; "
              f"[ -e /proc/self ] && echo proc || echo no-proc; ls /; {BB} cat /busybox.pid; "
              "echo; ls -ln /dev /dev/net")
    with Jail("inside") as jail:
        result = jail.run(script=script)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0:4] == [str(UID), str(GID), str(GID), "2048"], lines
        assert lines[5:7] == ["host-hidden", "no-proc"], lines
        assert lines[7:11] == ["busybox", "busybox.pid", "dev", "run"], lines
        # Without --new-pid-ns or --daemonize the jailer execs in place.
        assert lines[11] == lines[4], f"pid file {lines[11]}, the shell's pid {lines[4]}"
        for node in ("kvm", "urandom", "tun"):
            assert any(line.startswith("crw-------") and f" {UID} " in line and
                       f" {GID} " in line and line.endswith(node) for line in lines), \
                f"/dev/{node} missing or not {UID}:{GID} 0600: {lines}"


@test
def device_nodes_and_files_on_the_host():
    with Jail("nodes") as jail:
        result = jail.run(script="true")
        assert result.returncode == 0, result.stderr
        expected = {"dev/kvm": (10, 232), "dev/net/tun": (10, 200), "dev/urandom": (1, 9)}
        if os.path.exists("/dev/userfaultfd"):
            host = os.stat("/dev/userfaultfd").st_rdev
            expected["dev/userfaultfd"] = (os.major(host), os.minor(host))
        else:
            assert not os.path.exists(os.path.join(jail.root, "dev/userfaultfd"))
        for name, (major, minor) in expected.items():
            st = os.lstat(os.path.join(jail.root, name))
            assert oct(st.st_mode) == oct(0o20600), (name, oct(st.st_mode))
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), name
            assert (st.st_uid, st.st_gid) == (UID, GID), name
        copy = os.stat(os.path.join(jail.root, "busybox"))
        assert copy.st_ino != os.stat(BUSYBOX).st_ino and copy.st_nlink == 1
        assert (copy.st_uid, copy.st_gid) == (UID, GID)
        with open(os.path.join(jail.root, "busybox"), "rb") as a, open(BUSYBOX, "rb") as b:
            assert a.read() == b.read()
        for d in ("", "dev", "dev/net", "run"):
            st = os.stat(os.path.join(jail.root, d))
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (UID, GID, 0o700), d
        assert [n for n in os.listdir(os.path.dirname(jail.root))] == ["root"]


@test
def credentials_limits_and_fds_seen_from_the_host():
    inherited = os.open("/etc/hostname", os.O_RDONLY)
    try:
        with Jail("creds") as jail:
            env = dict(os.environ, TERN_JAILER_TEST_SECRET="leak")
            proc = jail.start("--resource-limit", "no-file=100", "--resource-limit", "fsize=4096",
                              script=f"echo ready; exec {BB} sleep 60", pass_fds=(inherited,),
                              env=env)
            assert proc.stdout.readline() == "ready\n", proc.stderr.read()
            pid = proc.pid
            status = proc_status(pid)
            assert status["Uid"].split() == [str(UID)] * 4, status["Uid"]
            assert status["Gid"].split() == [str(GID)] * 4, status["Gid"]
            assert status["Groups"] == "", status["Groups"]
            assert status["NoNewPrivs"] == "1"
            for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(status[caps], 16) == 0, (caps, status[caps])
            limits = read(f"/proc/{pid}/limits")
            assert any(line.split()[:5] == ["Max", "open", "files", "100", "100"]
                       for line in limits.splitlines()), limits
            assert any(line.split()[:5] == ["Max", "file", "size", "4096", "4096"]
                       for line in limits.splitlines()), limits
            assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"], \
                os.listdir(f"/proc/{pid}/fd")
            assert b"TERN_JAILER_TEST_SECRET" not in open(f"/proc/{pid}/environ", "rb").read()
            assert sorted(os.listdir(f"/proc/{pid}/root")) == \
                ["busybox", "busybox.pid", "dev", "run"]
            mounts = read(f"/proc/{pid}/mountinfo").splitlines()
            assert len(mounts) == 1 and mounts[0].split()[4] == "/", mounts
            assert jail.pid_file() == pid
    finally:
        os.close(inherited)
    assert not any(jail.root in line for line in read("/proc/self/mountinfo").splitlines())


@test
def cgroup_is_created_with_its_values_and_holds_the_program():
    mount = cgroup2_mount()
    if not mount:
        skip("no cgroup2 file system mounted")
    parent = f"tern-jailer-test-{os.getpid()}"
    settings = ["--cgroup", "cgroup.max.descendants=3"]
    enabled = read(os.path.join(mount, "cgroup.subtree_control")).split()
    if "pids" in enabled:
        settings += ["--cgroup", "pids.max=50"]
    with Jail("cgroup") as jail:
        leaf = os.path.join(mount, parent, jail.id)
        jail.cgroups += [os.path.join(mount, parent), leaf]
        proc = jail.start("--parent-cgroup", parent, *settings,
                          script=f"echo ready; exec {BB} sleep 60")
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        assert read(f"/proc/{proc.pid}/cgroup").splitlines()[-1] == f"0::/{parent}/{jail.id}"
        assert str(proc.pid) in read(os.path.join(leaf, "cgroup.procs")).split()
        assert read(os.path.join(leaf, "cgroup.max.descendants")).strip() == "3"
        if "pids" in enabled:
            assert read(os.path.join(leaf, "pids.max")).strip() == "50"
        proc.kill()
        proc.wait()


@test
def without_cgroup_settings_a_prepared_parent_is_joined():
    mount = cgroup2_mount()
    if not mount:
        skip("no cgroup2 file system mounted")
    parent = f"tern-jailer-test-{os.getpid()}"
    with Jail("parent-only") as jail:
        jail.cgroups.append(os.path.join(mount, parent))
        result = jail.run("--parent-cgroup", parent, script=f"{BB} cat /busybox.pid")
        assert result.returncode == 0, result.stderr
        assert not os.path.exists(os.path.join(mount, parent)), "a cgroup was made"
        os.mkdir(os.path.join(mount, parent))
        jail.id += "-again"
        jail.root = os.path.join(jail.base, "busybox", jail.id, "root")
        proc = jail.start("--parent-cgroup", parent, script=f"echo ready; exec {BB} sleep 60")
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        assert read(f"/proc/{proc.pid}/cgroup").splitlines()[-1] == f"0::/{parent}"
        proc.kill()
        proc.wait()


@test
def cgroup_v1_places_the_program_in_each_controllers_hierarchy():
    pids = cgroup_v1_mount("pids")
    cpuset = cgroup_v1_mount("cpuset")
    if not pids:
        skip("no cgroup v1 hierarchy with the pids controller")
    parent = f"tern-jailer-test-{os.getpid()}"
    settings = ["--cgroup", "pids.max=40"]
    if cpuset:
        cpus = read(os.path.join(cpuset, "cpuset.cpus")).strip().split(",")[0].split("-")[0]
        settings += ["--cgroup", f"cpuset.cpus={cpus}"]
    with Jail("cgroup-v1") as jail:
        for mount in filter(None, (pids, cpuset)):
            jail.cgroups += [os.path.join(mount, parent), os.path.join(mount, parent, jail.id)]
        proc = jail.start("--cgroup-version", "1", "--parent-cgroup", parent, *settings,
                          script=f"echo ready; exec {BB} sleep 60")
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        groups = read(f"/proc/{proc.pid}/cgroup").splitlines()
        assert any(line.endswith(f":pids:/{parent}/{jail.id}") for line in groups), groups
        assert read(os.path.join(pids, parent, jail.id, "pids.max")).strip() == "40"
        if cpuset:
            leaf = os.path.join(cpuset, parent, jail.id)
            assert any(line.endswith(f":cpuset:/{parent}/{jail.id}") for line in groups), groups
            assert read(os.path.join(leaf, "cpuset.cpus")).strip() == cpus
            # Copied from the parent: a cpuset without mems takes no task.
            assert read(os.path.join(leaf, "cpuset.mems")).strip() == \
                read(os.path.join(cpuset, "cpuset.mems")).strip()
        proc.kill()
        proc.wait()
        expect_error(jail.run("--cgroup-version", "1", "--cgroup", "nosuchcontroller.max=1",
                              script="true"),
                     1, "no cgroup v1 hierarchy is mounted with the nosuchcontroller")


@test
def unavailable_cgroup_controller_is_refused_before_building():
    if not cgroup2_mount():
        skip("no cgroup2 file system mounted")
    with Jail("nocontroller") as jail:
        expect_error(jail.run("--cgroup", "nosuchcontroller.max=1", script="true"), 1,
                     "nosuchcontroller controller is not available")
        assert not os.path.exists(jail.root)


@test
def failure_after_the_root_is_built_removes_it():
    mount = cgroup2_mount()
    if not mount:
        skip("no cgroup2 file system mounted")
    parent = f"tern-jailer-test-{os.getpid()}"
    with Jail("late-failure") as jail:
        jail.cgroups += [os.path.join(mount, parent), os.path.join(mount, parent, jail.id)]
        expect_error(jail.run("--parent-cgroup", parent, "--cgroup",
                              "cgroup.max.descendants=lots", script="true"),
                     1, "write 'lots' to", "cgroup.max.descendants")
        assert not os.path.exists(jail.root)
        assert os.listdir(os.path.dirname(jail.root)) == []
        # The cgroup made on the way is reused by the next try.
        result = jail.run("--parent-cgroup", parent, "--cgroup", "cgroup.max.descendants=2",
                          script="echo built")
        assert (result.returncode, result.stdout) == (0, "built\n"), result.stderr


@test
def new_pid_ns_runs_the_program_as_pid_1():
    with Jail("pidns") as jail:
        result = jail.run("--new-pid-ns", script=f"echo $$ > /pid-inside; {BB} sleep 30")
        assert result.returncode == 0, result.stderr
        pid = jail.pid_file()
        jail.pids.append(pid)
        inside = os.path.join(jail.root, "pid-inside")
        wait_for(lambda: os.path.exists(inside) and read(inside).strip(), what="/pid-inside")
        assert read(inside).strip() == "1"
        assert proc_status(pid)["NSpid"].split()[-1] == "1"
        assert proc_status(pid)["Uid"].split()[0] == str(UID)


@test
def daemonize_returns_at_once_and_the_program_runs_on():
    with Jail("daemon") as jail:
        started = time.monotonic()
        result = jail.run("--daemonize", script=f"{BB} sleep 2; echo alive > /alive; "
                          f"{BB} sleep 30")
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert elapsed < 2, f"the jailer took {elapsed:.1f} s to return"
        assert result.stdout == "" and result.stderr == ""
        # Written before the jailer returned: it waits for the exec.
        pid = jail.pid_file()
        jail.pids.append(pid)
        assert alive(pid)
        stat = read(f"/proc/{pid}/stat").split(") ")[1].split()
        assert int(stat[3]) != os.getsid(0), "still in the caller's session"
        assert int(stat[4]) == 0, "still has a controlling terminal"
        wait_for(lambda: os.path.exists(os.path.join(jail.root, "alive")), what="/alive")


@test
def failure_after_forking_is_the_jailers_own_status():
    # Kernel-refused at exec only: an x86 busybox relabelled as AArch64.
    with Jail("late") as jail:
        foreign = os.path.join(jail.base, "busybox")
        shutil.copy(BUSYBOX, foreign + ".tmp")
        with open(foreign + ".tmp", "r+b") as f:
            f.seek(18)
            f.write((183).to_bytes(2, "little"))    # e_machine: EM_AARCH64
        os.makedirs(os.path.join(jail.base, "elsewhere"))
        exec_file = os.path.join(jail.base, "elsewhere", "busybox")
        os.rename(foreign + ".tmp", exec_file)
        for options in (["--daemonize"], ["--new-pid-ns"], ["--daemonize", "--new-pid-ns"]):
            result = jail.run(*options, script="true", exec_file=exec_file)
            expect_error(result, 1, "exec /busybox in the jail", "Exec format error")
            shutil.rmtree(os.path.join(jail.base, "busybox"))


@test
def failing_step_is_one_line_and_leaves_nothing_behind():
    with Jail("failing") as jail:
        expect_error(jail.run("--netns", "/nonexistent/netns", script="true"), 1,
                     "open network namespace /nonexistent/netns", "No such file")
        assert not os.path.exists(jail.root)
        dynamic = shutil.which("true") or "/bin/true"
        expect_error(jail.run(script="true", exec_file=dynamic), 1, "dynamically linked")
        expect_error(jail.run(script="true", exec_file="/nonexistent"), 1,
                     "exec file /nonexistent", "No such file")
        unexecutable = os.path.join(jail.base, "not-executable")
        shutil.copy(BUSYBOX, unexecutable)
        os.chmod(unexecutable, 0o644)
        expect_error(jail.run(script="true", exec_file=unexecutable), 1,
                     "is not executable (mode 0644)")
        argv = jail.argv(script="true")
        argv[argv.index("--chroot-base-dir") + 1] = "/nonexistent-base"
        expect_error(subprocess.run(argv, capture_output=True, text=True), 1,
                     "chroot base directory /nonexistent-base")
        # The same ID works once the mistake is fixed, then says it exists.
        result = jail.run(script="echo built")
        assert (result.returncode, result.stdout) == (0, "built\n"), result.stderr
        expect_error(jail.run(script="true"), 1, "exists already", jail.root)
        assert os.listdir(os.path.dirname(jail.root)) == ["root"]


@test
def netns_is_joined():
    with Jail("netns") as jail:
        holder = subprocess.Popen(["unshare", "--net", BUSYBOX, "sleep", "60"])
        jail.procs.append(holder)
        wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/net")
                 != os.readlink("/proc/self/ns/net"), what="the namespace holder")
        proc = jail.start("--netns", f"/proc/{holder.pid}/ns/net",
                          script=f"echo ready; exec {BB} sleep 60")
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        assert os.readlink(f"/proc/{proc.pid}/ns/net") == \
            os.readlink(f"/proc/{holder.pid}/ns/net")


@test
def tern_called_jailer_is_the_jailer():
    with Jail("argv0") as jail:
        link = os.path.join(jail.base, "jailer")
        os.symlink(TERN, link)
        result = subprocess.run([link, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "Usage: tern jailer" in result.stdout
        result = jail.run(script="id -u", program=link)
        assert (result.returncode, result.stdout) == (0, f"{UID}\n"), result.stderr


# tern jailing tern (Firecracker's way): build/tern-static as the exec file,
# its API socket inside the jail, a tiny guest booted through it.
TERN_STATIC = os.path.join(ROOT, "build", "tern-static")
PVH_GUEST = os.path.join(ROOT, "build", "guests", "protected32-pvh.elf")
TERN_UID = TERN_GID = 1234


@test
def jailed_static_tern_boots_a_guest_through_its_api_and_sees_no_host_files():
    """A jailed tern (uid/gid 1234, its own PID namespace) serves its API on
    a socket inside the jail; it cannot open a file the host made in /tmp
    (the same path is "No such file" to it), runs as an unprivileged user
    with no capabilities, and boots the 32-bit test guest (a PVH ELF copied
    into the jail), which prints "326" on the serial file and resets, ending
    tern with status 0."""
    for path in (TERN_STATIC, PVH_GUEST):
        assert os.path.exists(path), f"{path} is missing: the build failed"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no /dev/kvm on this machine: the jailed tern cannot open a VM")
    host_file = tempfile.NamedTemporaryFile(prefix="tern-host-only-", dir="/tmp")
    with host_file, Jail("tern", exec_name="tern-static") as jail:
        # Output through a file: the jailed tern keeps the jailer's stderr.
        log = os.path.join(jail.base, "tern.log")
        with open(log, "w") as out:
            status = subprocess.run(
                [TERN, "jailer", "--id", jail.id, "--exec-file", TERN_STATIC,
                 "--uid", str(TERN_UID), "--gid", str(TERN_GID), "--chroot-base-dir", jail.base,
                 "--new-pid-ns", "--", "run", "--api-sock", "/run/api.sock",
                 "--serial", "file:/run/serial.out"],
                stdout=out, stderr=out, timeout=30, stdin=subprocess.DEVNULL).returncode
        assert status == 0, read(log)
        pid = jail.pid_file()
        jail.pids.append(pid)
        sock = os.path.join(jail.root, "run", "api.sock")
        wait_for(lambda: os.path.exists(sock) or not alive(pid), what="the jailed API socket")
        assert alive(pid), "the jailed tern exited before serving its API"
        api = Api(sock)
        assert api.get("/")[1]["state"] == "Not started"

        status = proc_status(pid)
        assert status["Uid"].split() == [str(TERN_UID)] * 4, status["Uid"]
        assert status["Gid"].split() == [str(TERN_GID)] * 4, status["Gid"]
        assert status["NSpid"].split()[-1] == "1", status["NSpid"]
        assert status["NoNewPrivs"] == "1"
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
        assert sorted(os.listdir(f"/proc/{pid}/root")) == \
            ["dev", "run", "tern-static", "tern-static.pid"], os.listdir(f"/proc/{pid}/root")
        # The host's file, by its host path: not there for the jailed tern.
        assert os.path.exists(host_file.name)
        # PUT /boot-source opens the file at once, inside the jail.
        api.fault("PUT", "/boot-source", {"kernel_image_path": host_file.name},
                  words=[host_file.name, "No such file"])
        api.fault("PUT", "/actions", {"action_type": "InstanceStart"},
                  words=["kernel_image_path"])
        assert api.get("/")[1]["state"] == "Not started"
        api.fault("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": "/etc/hostname",
                                            "is_root_device": True, "is_read_only": True},
                  words=["/etc/hostname", "No such file"])

        shutil.copy(PVH_GUEST, os.path.join(jail.root, "guest.elf"))
        os.chmod(os.path.join(jail.root, "guest.elf"), 0o644)
        api.ok("PUT", "/boot-source", {"kernel_image_path": "/guest.elf"})
        api.ok("PUT", "/actions", {"action_type": "InstanceStart"})
        wait_for(lambda: not alive(pid), timeout=60, what="the guest to reset and tern to exit")
        assert read(os.path.join(jail.root, "run", "serial.out")) == "326\n", read(log)
        assert "Running -> Stopped" in read(log), read(log)
        # tern removes its API socket as it exits.
        assert not os.path.exists(sock)


run(setup)
