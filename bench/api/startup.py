#!/usr/bin/python3
"""tern start -> API ready (first request answered: wall time, and tern's
CPU time then, all threads), and API request latency (GET / and PUT /machine-config), over N
runs. Needs no guest: tern waits for InstanceStart.

usage: bench/api/startup.py [RUNS]"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
from apiclient import Api  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.path.join(ROOT, "build", "tern")


def cpu_ms(pid):
    """CPU time of all of tern's threads so far, from schedstat (ns)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e6


def one_run(work, n):
    sock = os.path.join(work, f"b{n}.sock")
    start = time.perf_counter()
    proc = subprocess.Popen([TERN, "run", "--api-sock", sock, "--serial", "none",
                             "--log-level", "warn"], stdin=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    api = Api(sock)
    while True:                      # ready = the first request answered
        try:
            if api.get("/")[0] == 200:
                break
        except OSError:
            time.sleep(0.0002)
    ready = (time.perf_counter() - start) * 1000
    cpu = cpu_ms(proc.pid)
    latencies = []
    for i in range(50):
        t0 = time.perf_counter()
        api.get("/")
        api.put("/machine-config", {"vcpu_count": 1 + i % 2, "mem_size_mib": 256})
        latencies.append((time.perf_counter() - t0) * 1000 / 2)
    proc.terminate()
    proc.wait()
    return ready, cpu, statistics.median(latencies)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = tempfile.mkdtemp(prefix="tern-bench-api-")
    results = [one_run(work, n) for n in range(runs)]
    for label, idx in (("API ready, wall ms", 0), ("tern CPU ms at ready", 1),
                       ("request latency, ms (median of 100)", 2)):
        values = sorted(r[idx] for r in results)
        print(f"{label:40s} median {statistics.median(values):7.2f}  "
              f"min {values[0]:7.2f}  max {values[-1]:7.2f}")


if __name__ == "__main__":
    main()
