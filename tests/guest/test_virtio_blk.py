#!/usr/bin/python3
"""virtio-blk under the stock Debian kernel, inside the nested test host:
the guest makes an ext4 file system on a raw image, writes files, and after
a reboot the host finds them on the image (debugfs); two disks at once; a
readonly disk is read-only in the guest, its image unchanged, and tern runs
on. Images live in /dev/shm (tmpfs: no ZERO_RANGE there, so write-zeroes
takes its fallback)."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import run, test  # noqa: E402
from apiclient import Api, wait_for_socket  # noqa: E402
import guestlib  # noqa: E402

# mkfs and a few MiB of I/O run in a guest that itself runs emulated.
guestlib.COMMAND_TIMEOUT = 240
IMAGE_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
MIB = 1 << 20


def image(name, size=64 * MIB):
    path = os.path.join(IMAGE_DIR, f"tern-blk-{os.getpid()}-{name}.img")
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def load_virtio_blk(guest, disks, transport="pci"):
    # The serial console is 80 columns to the guest: longer command lines
    # would wrap in the echo and hide guestlib's end marker.
    guest.shell("stty cols 1000")
    guest.shell(f"modprobe virtio_{transport}; modprobe virtio_blk")
    names = [f"vd{chr(ord('a') + i)}" for i in range(disks)]
    wait = " && ".join(f"[ -b /dev/{n} ]" for n in names)
    out = guest.shell(f"for i in $(seq 100); do {wait} && break; sleep 0.1; done; "
                      f"ls /dev/ | grep '^vd'")
    for name in names:
        assert name in out.split(), f"/dev/{name} missing; /dev has {out!r}"


def shell_ok(guest, command):
    """Runs command and returns its output; fails the test on non-zero."""
    out = guest.shell(f"{command}; echo status=$?")
    body, _, status = out.rpartition("status=")
    assert status.strip() == "0", f"{command!r} failed: {out!r}"
    return body.strip()


def debugfs(img, request):
    return subprocess.run(["debugfs", "-R", request, img], capture_output=True,
                          check=True).stdout


@test
def ext4_written_in_the_guest_is_on_the_image_after_reboot():
    img = image("ext4")
    try:
        with guestlib.Guest(cpus=2, memory="256M",
                            extra=["--disk", f"path={img},id=tern-data"]) as guest:
            load_virtio_blk(guest, 1)
            assert guest.shell("cat /sys/block/vda/serial; echo") == "tern-data"
            assert guest.shell("cat /sys/block/vda/size") == str(64 * MIB // 512)
            assert guest.shell("cat /sys/block/vda/ro") == "0"
            shell_ok(guest, "mkfs.ext4 -q -F /dev/vda")
            shell_ok(guest, "mkdir -p /mnt && mount -t ext4 /dev/vda /mnt")
            shell_ok(guest, "dd if=/dev/urandom of=/mnt/blob bs=64k count=64 2>/dev/null")
            shell_ok(guest, "echo hello from the guest > /mnt/hello.txt")
            guest_sum = shell_ok(guest, "sha256sum /mnt/blob").split()[0]
            shell_ok(guest, "sync")
            # Read back from the disk, not the page cache.
            shell_ok(guest, "umount /mnt && echo 3 > /proc/sys/vm/drop_caches")
            shell_ok(guest, "mount -t ext4 /dev/vda /mnt")
            assert shell_ok(guest, "sha256sum /mnt/blob").split()[0] == guest_sum
            # Deleting and trimming reaches the image as discards.
            shell_ok(guest, "dd if=/dev/urandom of=/mnt/big bs=64k count=128 2>/dev/null"
                            " && sync")
            used_before = os.stat(img).st_blocks
            shell_ok(guest, "rm /mnt/big && sync && fstrim /mnt")
            used_after = os.stat(img).st_blocks
            assert used_after < used_before - 4096, (used_before, used_after)
            shell_ok(guest, "umount /mnt")
            assert guest.reboot() == 0
        assert debugfs(img, "cat /hello.txt") == b"hello from the guest\n"
        blob = debugfs(img, "cat /blob")
        assert len(blob) == 4 * MIB
        assert hashlib.sha256(blob).hexdigest() == guest_sum
        # A second tern run finds the file system as it was left.
        with guestlib.Guest(cpus=1, memory="256M", extra=["--disk", f"path={img}"]) as guest:
            load_virtio_blk(guest, 1)
            shell_ok(guest, "mkdir -p /mnt && mount -t ext4 /dev/vda /mnt")
            assert shell_ok(guest, "sha256sum /mnt/blob").split()[0] == guest_sum
            shell_ok(guest, "umount /mnt")
            assert guest.reboot() == 0
    finally:
        os.unlink(img)


def write_pattern(img, offset, data):
    with open(img, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read_at(img, offset, length):
    with open(img, "rb") as f:
        f.seek(offset)
        return f.read(length)


@test
def two_disks_one_readonly_which_refuses_writes():
    rw, ro = image("rw", 16 * MIB), image("ro", 8 * MIB)
    try:
        write_pattern(ro, 3 * MIB, b"READ-ONLY-PATTERN-" * 28 + b"\n" * 8)
        ro_sum = hashlib.sha256(open(ro, "rb").read()).hexdigest()
        extra = ["--disk", f"path={rw},engine=threads",
                 "--disk", f"path={ro},readonly,id=golden"]
        with guestlib.Guest(cpus=2, memory="256M", extra=extra) as guest:
            load_virtio_blk(guest, 2)
            assert guest.shell("cat /sys/block/vdb/ro") == "1"
            assert guest.shell("cat /sys/block/vdb/serial; echo") == "golden"
            assert guest.shell("cat /sys/block/vda/serial; echo") == "disk0"
            assert guest.shell("cat /sys/block/vdb/size") == str(8 * MIB // 512)
            # The host's bytes read through the readonly disk.
            got = shell_ok(guest, "dd if=/dev/vdb bs=512 skip=6144 count=1 2>/dev/null"
                                  " | head -c 36; echo")
            assert got == "READ-ONLY-PATTERN-READ-ONLY-PATTERN-", got
            # Writes are refused, the guest goes on, so does tern.
            out = guest.shell("dd if=/dev/zero of=/dev/vdb bs=4k count=1 oflag=direct"
                              " conv=fsync 2>&1; echo status=$?")
            assert not out.endswith("status=0"), out
            assert re.search(r"(?i)read-only|not permitted|i/o error", out), out
            out = guest.shell("mkfs.ext4 -q -F /dev/vdb 2>&1; echo status=$?")
            assert not out.endswith("status=0"), out
            # The other disk takes a raw pattern at a known offset.
            shell_ok(guest, "printf 'tern-raw-%05d' 4242 | dd of=/dev/vda bs=512 seek=8192"
                            " conv=fsync 2>/dev/null")
            shell_ok(guest, "dd if=/dev/urandom of=/dev/vda bs=64k count=32 seek=16"
                            " oflag=direct 2>/dev/null")
            rw_guest_sum = shell_ok(guest, "dd if=/dev/vda bs=64k count=32 skip=16"
                                           " iflag=direct 2>/dev/null | sha256sum").split()[0]
            assert guest.shell("echo still-alive") == "still-alive"
            assert guest.reboot() == 0
        assert read_at(rw, 8192 * 512, 14) == b"tern-raw-04242"
        assert hashlib.sha256(read_at(rw, MIB, 2 * MIB)).hexdigest() == rw_guest_sum
        assert hashlib.sha256(open(ro, "rb").read()).hexdigest() == ro_sum
    finally:
        os.unlink(rw)
        os.unlink(ro)


@test
def an_image_of_odd_size_is_its_whole_sectors():
    """As Firecracker: an image of 4 MiB + 300 bytes is a disk of 8192
    sectors. The guest writes all of it; a write past it fails; the 300
    bytes after the last whole sector are as they were; tern's log names
    the file and the bytes hidden."""
    img = image("odd", 4 * MIB)
    tail = b"tern-hidden-tail" * 18 + b"!" * 12
    with open(img, "ab") as f:
        f.write(tail)
    log = img + ".log"
    try:
        with guestlib.Guest(cpus=1, memory="256M", extra=["--disk", f"path={img}"],
                            log_path=log) as guest:
            load_virtio_blk(guest, 1)
            assert guest.shell("cat /sys/block/vda/size") == str(4 * MIB // 512)
            shell_ok(guest, "dd if=/dev/urandom of=/tmp/all bs=64k count=64 2>/dev/null")
            shell_ok(guest, "dd if=/tmp/all of=/dev/vda bs=64k oflag=direct conv=fsync"
                            " 2>/dev/null")
            guest_sum = shell_ok(guest, "sha256sum < /tmp/all").split()[0]
            out = guest.shell("dd if=/dev/zero of=/dev/vda bs=512 seek=8192 count=1"
                              " oflag=direct 2>&1; echo status=$?")
            assert not out.endswith("status=0"), out
            assert guest.reboot() == 0
        with open(img, "rb") as f:
            data = f.read()
        assert len(data) == 4 * MIB + 300, len(data)
        assert hashlib.sha256(data[:4 * MIB]).hexdigest() == guest_sum
        assert data[4 * MIB:] == tail
        with open(log) as f:
            text = f.read()
        assert f"disk {img}: its size ({4 * MIB + 300} bytes) is not a multiple of 512" \
            in text and "the last 300 bytes are hidden" in text, text[-2000:]
    finally:
        os.unlink(img)
        if os.path.exists(log):
            os.unlink(log)


@test
def virtio_mmio_transport_carries_the_disk_too():
    img = image("mmio", 8 * MIB)
    try:
        extra = ["--transport", "mmio", "--disk", f"path={img},id=over-mmio"]
        with guestlib.Guest(cpus=1, memory="256M", extra=extra) as guest:
            load_virtio_blk(guest, 1, transport="mmio")
            assert guest.shell("cat /sys/block/vda/serial; echo") == "over-mmio"
            shell_ok(guest, "printf 'tern-mmio-%05d' 777 | dd of=/dev/vda bs=512 seek=100"
                            " conv=fsync 2>/dev/null")
            shell_ok(guest, "echo 3 > /proc/sys/vm/drop_caches")
            got = shell_ok(guest, "dd if=/dev/vda bs=512 skip=100 count=1 iflag=direct"
                                  " 2>/dev/null | head -c 15; echo")
            assert got == "tern-mmio-00777", got
            assert guest.reboot() == 0
        assert read_at(img, 100 * 512, 15) == b"tern-mmio-00777"
    finally:
        os.unlink(img)


@test
def sixteen_disks_on_virtio_mmio_each_interrupt_on_its_own_pin():
    """virtio-mmio's 16 slots: GSIs 16-23, then the free ISA pins (3, 6, 7,
    10, 11, 13, 14, 15). Each disk has its serial's words at sector 8; a
    direct read from each needs its completion interrupt on its own pin."""
    imgs = [image(f"mmio16-{i}", 1 * MIB) for i in range(16)]
    try:
        extra = ["--transport", "mmio"]
        for i, img in enumerate(imgs):
            with open(img, "r+b") as f:
                f.seek(8 * 512)
                f.write(b"tern-disk%02d" % i)
            extra += ["--disk", f"path={img},id=disk{i:02d}"]
        with guestlib.Guest(cpus=1, memory="256M", extra=extra) as guest:
            load_virtio_blk(guest, 16, transport="mmio")
            seen = set()
            for i in range(16):
                name = f"vd{chr(ord('a') + i)}"
                serial = guest.shell(f"cat /sys/block/{name}/serial; echo")
                got = shell_ok(guest, f"dd if=/dev/{name} bs=512 skip=8 count=1 iflag=direct"
                                      " 2>/dev/null | head -c 11; echo")
                assert serial.startswith("disk") and got == "tern-" + serial, (name, serial, got)
                seen.add(serial)
            assert len(seen) == 16, seen
            interrupts = guest.shell("grep virtio /proc/interrupts")
            for pin in (16, 17, 18, 19, 20, 21, 22, 23, 3, 6, 7, 10, 11, 13, 14, 15):
                assert re.search(rf"\b{pin}-edge\s+virtio", interrupts), (pin, interrupts)
            assert guest.reboot() == 0
    finally:
        for img in imgs:
            os.unlink(img)


@test
def a_running_drive_takes_a_new_backing_file():
    """PATCH /drives with path_on_host after start (Firecracker's, and how
    Kata Containers plugs a container's disk into a placeholder drive):
    the guest hears of the new capacity through a configuration change,
    reads the new file's bytes and writes to it, not to the old one; the
    new file's partial sector at its end stays out of the guest's reach; a
    snapshot taken after it records the new file."""
    first, second = image("swap-first", 4 * MIB), image("swap-second", 8 * MIB)
    for path, words in ((first, b"tern-first-file"), (second, b"tern-other-file")):
        with open(path, "r+b") as f:
            f.write(words)
    # The new file's size is not a multiple of 512 (Kata's initrd asset in
    # its rootfs drive): the guest sees its whole sectors only.
    with open(second, "ab") as f:
        f.write(b"\xe7" * 100)
    work = tempfile.mkdtemp(prefix="tern-blk-swap-")
    sock, config = os.path.join(work, "api.sock"), os.path.join(work, "vm.json")
    with open(config, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": guestlib.paths()["GUEST_BZIMAGE"]},
                   "drives": [{"drive_id": "data", "path_on_host": first,
                               "is_root_device": False, "is_read_only": False}]}, f)
    read_first_sector = ("dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null"
                         " | head -c 15; echo")
    try:
        with guestlib.Guest(cpus=1, memory="256M",
                            extra=["--config-file", config, "--api-sock", sock]) as guest:
            api = Api(sock)
            wait_for_socket(sock)
            load_virtio_blk(guest, 1)
            assert guest.shell("cat /sys/block/vda/size") == str(4 * MIB // 512)
            assert shell_ok(guest, read_first_sector) == "tern-first-file"
            api.ok("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": second})
            size = guest.shell("for i in $(seq 100); do [ $(cat /sys/block/vda/size) = "
                               f"{8 * MIB // 512} ] && break; sleep 0.1; done; "
                               "cat /sys/block/vda/size")
            assert size == str(8 * MIB // 512), size
            assert shell_ok(guest, read_first_sector) == "tern-other-file"
            shell_ok(guest, "printf tern-written | dd of=/dev/vda bs=512 seek=10"
                            " oflag=direct conv=fsync 2>/dev/null")
            shell_ok(guest, f"dd if=/dev/zero of=/dev/vda bs=512 seek={8 * MIB // 512 - 1}"
                            " count=1 oflag=direct 2>/dev/null")
            out = guest.shell(f"dd if=/dev/zero of=/dev/vda bs=512 seek={8 * MIB // 512}"
                              " count=1 oflag=direct 2>&1; echo status=$?")
            assert not out.endswith("status=0"), out
            assert api.get("/vm/config")[1]["drives"][0]["path_on_host"] == second
            # A snapshot taken now records the new file, not the first.
            snap, mem = os.path.join(work, "snap"), os.path.join(work, "mem")
            api.ok("PATCH", "/vm", {"state": "Paused"})
            api.ok("PUT", "/snapshot/create", {"snapshot_type": "Full",
                                               "snapshot_path": snap, "mem_file_path": mem})
            api.ok("PATCH", "/vm", {"state": "Resumed"})
            with open(snap, "rb") as f:
                record = f.read()
            assert second.encode() in record and first.encode() not in record
            os.unlink(mem)
            assert guest.reboot() == 0
        assert read_at(second, 10 * 512, 12) == b"tern-written"
        assert read_at(second, 8 * MIB, 200) == b"\xe7" * 100
        assert read_at(first, 10 * 512, 12) == bytes(12)
    finally:
        os.unlink(first)
        os.unlink(second)
        shutil.rmtree(work, ignore_errors=True)


@test
def an_image_in_use_is_refused_with_a_clear_error():
    img = image("locked", 4 * MIB)
    try:
        with guestlib.Guest(cpus=1, memory="256M", extra=["--disk", f"path={img}"]) as guest:
            p = guestlib.paths()
            result = subprocess.run(
                [guestlib.TERN, "run", "--kernel", p["GUEST_BZIMAGE"], "--serial", "none",
                 "--disk", f"path={img}"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
            assert result.returncode == 1, result
            assert "locked" in result.stderr, result.stderr
            assert guest.reboot() == 0
    finally:
        os.unlink(img)


def setup():
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm: these tests run inside the test host (testhost/run.sh)"
    if subprocess.run(["which", "debugfs"], capture_output=True).returncode:
        return "debugfs (e2fsprogs) is not installed"
    return None


if __name__ == "__main__":
    run(setup)
