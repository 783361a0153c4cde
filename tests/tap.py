"""A minimal TAP producer for tern's Python test scripts.

    from tap import test, skip, run
    @test
    def something_works(): assert ...
    run()

Each test prints "ok N - name" or "not ok N - name" with the failure below
it as "# " lines; skip(reason) inside a test reports "ok N - name # SKIP
reason", which tests/run counts as skipped, never as passed.
"""
import sys
import traceback

_tests = []


class Skip(Exception):
    pass


def test(fn):
    _tests.append(fn)
    return fn


def skip(reason):
    raise Skip(reason)


def run(setup=None):
    """Runs the registered tests in order. setup() may return a reason string
    to skip them all (e.g. no kernel to boot)."""
    print(f"1..{len(_tests)}", flush=True)
    all_skipped = setup() if setup else None
    failed = 0
    for number, fn in enumerate(_tests, 1):
        name = fn.__name__
        if all_skipped:
            print(f"ok {number} - {name} # SKIP {all_skipped}", flush=True)
            continue
        try:
            fn()
            print(f"ok {number} - {name}", flush=True)
        except Skip as s:
            print(f"ok {number} - {name} # SKIP {s}", flush=True)
        except Exception:  # a test's own bug fails that test only
            failed += 1
            print(f"not ok {number} - {name}", flush=True)
            for line in traceback.format_exc().rstrip().splitlines():
                print(f"# {line}", flush=True)
    sys.exit(1 if failed else 0)
