#!/usr/bin/python3
"""A page fault handler for snapshot loads with mem_backend Uffd, written
for the tests the way Firecracker's example handlers work
(src/firecracker/examples/uffd/on_demand_handler.rs): it listens on a Unix
socket, takes the one message (a JSON array of GuestRegionUffdMapping with
the userfaultfd as SCM_RIGHTS), and fills every faulting page with
UFFDIO_COPY from the snapshot's memory file (see serve()); a remove event (balloon)
unregisters the range, as Firecracker's handler does. It counts what it
served in COUNT_FILE ("pages N\\nremoved N\\n") and ends when tern's end of
the connection closes.

uffd_handler.py SOCKET MEMORY_FILE COUNT_FILE [--close-at-once]
--close-at-once: accept the connection and close it unread (a handler that
gives up), then exit."""
import ctypes
import errno
import fcntl
import json
import os
import select
import socket
import struct
import sys

UFFD_EVENT_PAGEFAULT = 0x12
UFFD_EVENT_REMOVE = 0x15
UFFD_MSG_SIZE = 32
# _IOWR(0xAA, _UFFDIO_COPY, struct uffdio_copy), _IOR(0xAA, _UFFDIO_UNREGISTER,
# struct uffdio_range) from <linux/userfaultfd.h>.
UFFDIO_COPY = (3 << 30) | (40 << 16) | (0xAA << 8) | 0x03
UFFDIO_UNREGISTER = (2 << 30) | (16 << 16) | (0xAA << 8) | 0x01
BLOCK_PAGES = 64


class Handler:
    def __init__(self, regions, uffd, mem_fd, count_file):
        self.regions = regions
        self.uffd = uffd
        self.mem_fd = mem_fd
        self.count_file = count_file
        self.pages = 0
        self.removed = 0
        self.page_size = regions[0]["page_size"]
        # Blocks of small pages only: a 2 MiB page is a block already.
        self.block_pages = BLOCK_PAGES if self.page_size == 4096 else 1
        self.buffer = ctypes.create_string_buffer(self.page_size * self.block_pages)

    def save_counts(self):
        tmp = self.count_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"pages {self.pages}\nremoved {self.removed}\n")
        os.rename(tmp, self.count_file)

    def copy(self, dst, file_offset, length):
        data = os.pread(self.mem_fd, length, file_offset)
        ctypes.memset(self.buffer, 0, length)
        ctypes.memmove(self.buffer, data, len(data))
        fcntl.ioctl(self.uffd, UFFDIO_COPY,
                    bytearray(struct.pack("<QQQQq", dst, ctypes.addressof(self.buffer),
                                          length, 0, 0)), True)
        self.pages += length // self.page_size

    def serve(self, address):
        """True when done (copied, or present already); False to retry
        (EAGAIN: a remove event is pending). The faulting page's block of
        BLOCK_PAGES comes in at once where none of it is present (a
        Python handler serving page by page is slow on an emulated test
        host); the page alone otherwise, as Firecracker's handler does."""
        page = address & ~(self.page_size - 1)
        for r in self.regions:
            base = r["base_host_virt_addr"]
            if not base <= page < base + r["size"]:
                continue
            block = self.page_size * self.block_pages
            start = max(base, base + (page - base) // block * block)
            length = min(block, base + r["size"] - start)
            for dst, size in ((start, length), (page, self.page_size)):
                try:
                    self.copy(dst, r["offset"] + dst - base, size)
                    return True
                except OSError as e:
                    if e.errno == errno.EAGAIN:
                        return False
                    if e.errno != errno.EEXIST:
                        raise
            return True
        raise SystemExit(f"uffd_handler: fault at {address:#x} outside every region")

    def unregister(self, start, end):
        fcntl.ioctl(self.uffd, UFFDIO_UNREGISTER, struct.pack("<QQ", start, end - start))
        self.removed += (end - start) // self.page_size

    def events(self):
        out = []
        while True:
            try:
                data = os.read(self.uffd, UFFD_MSG_SIZE * 64)
            except BlockingIOError:
                return out
            for i in range(0, len(data), UFFD_MSG_SIZE):
                event = data[i]
                a, b = struct.unpack_from("<QQ", data, i + 8)
                out.append((event, a, b))

    def run(self, conn):
        deferred = []
        poller = select.poll()
        poller.register(self.uffd, select.POLLIN)
        poller.register(conn.fileno(), select.POLLIN | select.POLLRDHUP)
        while True:
            ready = dict(poller.poll(None if not deferred else 10))
            if ready.get(conn.fileno()):
                return  # tern's end closed: tern exited
            todo = deferred + self.events()
            deferred = []
            for event, a, b in todo:
                if event == UFFD_EVENT_PAGEFAULT:
                    # arg.pagefault: flags (a), address (b)
                    if not self.serve(b):
                        deferred.append((event, a, b))
                elif event == UFFD_EVENT_REMOVE:
                    self.unregister(a, b)
            self.save_counts()


def main():
    sock_path, mem_path, count_file = sys.argv[1:4]
    close_at_once = "--close-at-once" in sys.argv[4:]
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    conn, _ = listener.accept()
    if close_at_once:
        conn.close()
        return
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    if not fds:
        raise SystemExit(f"uffd_handler: no userfaultfd came with {msg!r}")
    regions = json.loads(msg)
    mem_fd = os.open(mem_path, os.O_RDONLY)
    # As Firecracker's handlers check: the regions cover the file.
    size = os.fstat(mem_fd).st_size
    if sum(r["size"] for r in regions) != size:
        raise SystemExit(f"uffd_handler: regions {regions} do not cover {size} bytes")
    with open(count_file + ".message", "w") as f:
        f.write(msg.decode())
    handler = Handler(regions, fds[0], mem_fd, count_file)
    handler.save_counts()
    handler.run(conn)
    handler.save_counts()


if __name__ == "__main__":
    main()
