"""A minimal TAP producer for tern's Python test scripts.

    from tap import test, skip, run
    @test
    def something_works(): assert ...
    run()

Each test prints "ok N - name" or "not ok N - name" with the failure below
it as "# " lines; skip(reason) inside a test reports "ok N - name # SKIP
reason", which tests/run counts as skipped, never as passed.

Every test runs under a watchdog (TEST_TIMEOUT_S, or @test_with_timeout(S)):
a test still running then fails with the traceback of where it was stuck,
so one hang cannot stall the whole file.

TAP_ONLY=name,name in the environment runs only the tests named.
"""
import os
import signal
import sys
import threading
import traceback

TEST_TIMEOUT_S = 420

_tests = []


class Skip(Exception):
    pass


class Hung(Exception):
    pass


def test(fn):
    _tests.append(fn)
    return fn


def test_with_timeout(seconds):
    """@test for a test that legitimately runs longer than TEST_TIMEOUT_S."""
    def register(fn):
        fn.tap_timeout = seconds
        return test(fn)
    return register


def test_in_builds_where(applies):
    """@test for a test that belongs to some builds only (the sanitizer
    build's test hooks, say): applies() is asked after setup, and where it
    is false the test is not part of this run at all. The suite runs each
    file once per build, so the test runs where it means something and is
    neither passed nor skipped where it does not."""
    def register(fn):
        fn.tap_applies = applies
        return test(fn)
    return register


def _on_watchdog(signum, frame):
    raise Hung("the test was still running after its time limit (tap.py watchdog)")


def skip(reason):
    raise Skip(reason)


def run(setup=None):
    """Runs the registered tests in order. setup() may return a reason string
    to skip them all (e.g. no kernel to boot)."""
    all_skipped = setup() if setup else None
    tests = [fn for fn in _tests if getattr(fn, "tap_applies", lambda: True)()]
    # TAP_ONLY=name,name: only those (tests/run's rerun of the tests that
    # failed for the emulated test host's reasons).
    only = os.environ.get("TAP_ONLY")
    if only:
        tests = [fn for fn in tests if fn.__name__ in only.split(",")]
    print(f"1..{len(tests)}", flush=True)
    failed = 0
    for number, fn in enumerate(tests, 1):
        name = fn.__name__
        if all_skipped:
            print(f"ok {number} - {name} # SKIP {all_skipped}", flush=True)
            continue
        signal.signal(signal.SIGALRM, _on_watchdog)
        signal.alarm(getattr(fn, "tap_timeout", TEST_TIMEOUT_S))
        try:
            fn()
            signal.alarm(0)
            print(f"ok {number} - {name}", flush=True)
        except Skip as s:
            signal.alarm(0)
            print(f"ok {number} - {name} # SKIP {s}", flush=True)
        except Exception:  # a test's own bug fails that test only
            signal.alarm(0)
            failed += 1
            print(f"not ok {number} - {name}", flush=True)
            for line in traceback.format_exc().rstrip().splitlines():
                print(f"# {line}", flush=True)
    # A thread a failed test left blocked would keep the interpreter from
    # exiting; the results are out, so leave without waiting for it.
    leftover = [t.name for t in threading.enumerate()
                if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if leftover:
        print(f"# threads still running at the end: {', '.join(leftover)}", flush=True)
        sys.stderr.flush()
        os._exit(1 if failed else 0)
    sys.exit(1 if failed else 0)
