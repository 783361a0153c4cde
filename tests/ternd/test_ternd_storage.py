#!/usr/bin/python3
"""ternd's storage pool end to end: volumes created, cloned, resized and
deleted through ternctl and the API, definitions naming them (a running
tern gets the pool's path), the refusals that keep a volume consistent
(named by a definition, in use by a running VM, a shrink not asked for),
hostile names and bodies, --pool-dir, and (with the sanitizer build's test
hooks) kill -9 of ternd in the middle of a create.

TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build; the VMs always run build/tern."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from tap import test, test_in_builds_where  # noqa: E402
from apiclient import Api  # noqa: E402
from ternd_host import main, GUEST, Host, has_test_hooks, setup  # noqa: E402

MiB = 1 << 20


def pool(h):
    return os.path.join(h.state, "pools", "default")


def volumes(h):
    return {v["name"]: v for v in json.loads(h.ok("vol-list", "--json"))["volumes"]}


@test
def volumes_are_created_cloned_resized_and_deleted():
    with Host() as h:
        h.start()
        assert h.ok("vol-create", "base", "64M") == "Volume 'base' created (64M)\n"
        path = os.path.join(pool(h), "base")
        assert os.stat(path).st_size == 64 * MiB
        assert os.stat(path).st_blocks == 0, "a new volume is sparse"
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        v = volumes(h)["base"]
        assert (v["capacity"], v["allocation"], v["used_by"], v["origin"], v["path"]) == \
            (64 * MiB, 0, [], None, path), v
        table = h.ok("vol-list").splitlines()
        assert table[0].split() == ["Name", "Capacity", "Allocation", "Used", "by"]
        assert table[2].split()[:3] == ["base", "64.00", "MiB"], table
        assert h.ok("vol-list", "--name") == "base\n"
        assert "Path:           " + path in h.ok("vol-info", "base")

        with open(path, "r+b") as f:
            f.seek(5 * MiB)
            f.write(b"tern" * 1024)
        out = h.ok("vol-clone", "base", "copy")
        assert out.startswith("Volume 'copy' cloned from 'base' ("), out
        copy = os.path.join(pool(h), "copy")
        with open(path, "rb") as a, open(copy, "rb") as b:
            assert a.read() == b.read()
        assert os.stat(copy).st_blocks * 512 < 4 * MiB, "the clone filled the holes"
        answer = json.loads(h.ok("vol-clone", "base", "copy2", "--json"))
        assert answer["clone_method"] in ("reflink", "copy") and answer["origin"] == "base"
        assert answer["clone_method"] in out

        assert h.ok("vol-resize", "copy", "1G") == "Volume 'copy' resized to 1.00 GiB\n"
        assert os.stat(copy).st_size == 1 << 30
        h.fails("vol-resize", "copy", "32M", words=("shrinking", "--shrink"))
        assert os.stat(copy).st_size == 1 << 30
        h.ok("vol-resize", "copy", "32M", "--shrink")
        assert os.stat(copy).st_size == 32 * MiB
        h.fails("vol-resize", "copy", "1000", words=("multiple of 512",))
        h.fails("vol-resize", "nosuch", "1G", words=("no volume named 'nosuch'", "vol-list"))

        h.fails("vol-create", "base", "1M", words=("'base' already exists",))
        h.fails("vol-clone", "base", "copy", words=("'copy' already exists",))
        h.fails("vol-clone", "nosuch", "x", words=("no volume named 'nosuch'",))
        assert h.ok("vol-delete", "copy") == "Volume 'copy' deleted\n"
        assert not os.path.exists(copy)
        h.fails("vol-delete", "copy", words=("no volume named 'copy'",))
        assert sorted(volumes(h)) == ["base", "copy2"]
        assert sorted(os.listdir(pool(h))) == ["base", "copy2"], "pending files left"
        kinds = [(e["name"], e["kind"]) for e in h.events() if e["object"] == "volume"]
        assert kinds == [("base", "created"), ("copy", "cloned"), ("copy2", "cloned"),
                         ("copy", "resized"), ("copy", "resized"), ("copy", "deleted")], kinds
        # The catalog survives kill -9.
        h.kill9()
        h.start()
        assert sorted(volumes(h)) == ["base", "copy2"]
        h.stop()


@test
def a_definition_names_a_volume_and_the_vm_gets_its_file():
    with Host() as h:
        h.start()
        h.ok("vol-create", "root", "16M")
        drive = {"drive_id": "root", "is_root_device": False, "volume": "root"}
        doc = h.define("web", drives=[drive])
        assert h.info("web")["config"] == doc, "the definition keeps the volume's name"
        assert volumes(h)["root"]["used_by"] == ["web"]
        h.fails("vol-delete", "root", words=("named by the definition of web",))

        h.ok("start", "web")
        info = h.info("web")
        status, config = Api(info["api_socket"]).get("/vm/config")
        assert status == 200
        assert config["drives"][0]["path_on_host"] == os.path.join(pool(h), "root"), config
        with open(os.path.join(h.state, "vms", "web", "config.json")) as f:
            assert "volume" not in json.load(f)["drives"][0]
        assert volumes(h)["root"]["in_use"] is True
        h.fails("vol-resize", "root", "32M", words=("in use by a running VM", "web"))
        h.fails("vol-clone", "root", "snap", words=("in use by a running VM",))
        h.ok("pause", "web")
        h.fails("vol-resize", "root", "32M", words=("in use",))
        h.ok("destroy", "web")
        assert volumes(h)["root"]["in_use"] is False
        h.ok("vol-resize", "root", "32M")
        h.ok("vol-clone", "root", "snap")

        # Redefined on the clone: the first volume is free, the clone not.
        h.define("web", drives=[dict(drive, volume="snap")])
        assert volumes(h)["root"]["used_by"] == [] and volumes(h)["snap"]["used_by"] == ["web"]
        h.ok("vol-delete", "root")
        # A volume file removed behind ternd's back: start says which.
        os.unlink(os.path.join(pool(h), "snap"))
        h.fails("start", "web", words=("names volume 'snap'", "no file in the pool"))
        assert volumes(h)["snap"]["capacity"] is None
        h.ok("undefine", "web")
        h.ok("vol-delete", "snap")
        h.stop()


@test
def bad_volume_names_sizes_and_definitions_are_refused_and_change_nothing():
    with Host() as h:
        h.start()
        for name in ("../etc", "a/b", ".hidden", "..", "x" * 65, "sp ace", "_x", "a\\b"):
            h.fails("vol-create", name, "1M", words=("volume name",))
            h.fails("vol-clone", name, "ok", words=("volume name",))
            h.fails("vol-delete", name, words=("volume name",))
        h.ok("vol-create", "good", "1M")
        h.fails("vol-clone", "good", "../evil", words=("volume name",))
        h.fails("vol-create", "odd", "1000", words=("multiple of 512",))
        h.fails("vol-create", "zero", "0", words=("multiple of 512",))
        h.fails("vol-create", "huge", "2P", words=("at most",))
        api = h.api()
        cases = [
            ("PUT", "/v1/volumes/..%2Fetc", {"capacity": 512}, 400, "volume name"),
            # Decoded, "a/b" is volume a's action b: none such, nothing made.
            ("PUT", "/v1/volumes/a%2Fb", {"capacity": 512}, 404, "unknown volume action"),
            ("PUT", "/v1/volumes/" + "y" * 200, {"capacity": 512}, 400, "1 to 64"),
            ("PUT", "/v1/volumes/v", "not json", 400, "not a JSON object"),
            ("PUT", "/v1/volumes/v", [1], 400, "not a JSON object"),
            ("PUT", "/v1/volumes/v", {"capacity": -1}, 400, "size in bytes"),
            ("PUT", "/v1/volumes/v", {"capacity": "1G"}, 400, "size in bytes"),
            ("PUT", "/v1/volumes/v", {"capacity": 512, "path": "/etc"}, 400, "unknown field"),
            ("POST", "/v1/volumes/good/clone", {"name": "../x"}, 400, "volume name"),
            ("POST", "/v1/volumes/good/clone", {"name": 7}, 400, "expected"),
            ("POST", "/v1/volumes/good/clone", {}, 400, "expected"),
            ("POST", "/v1/volumes/good/resize", {"capacity": 1024, "shrink": "yes"}, 400,
             "true or false"),
            ("POST", "/v1/volumes/good/explode", {}, 404, "unknown volume action"),
            ("GET", "/v1/volumes/good/clone", None, 405, "allowed"),
            ("PATCH", "/v1/volumes/good", None, 405, "allowed"),
            ("POST", "/v1/volumes", None, 405, "allowed"),
            ("PUT", "/v1/volumes/good", {"capacity": 512}, 409, "already exists"),
        ]
        for method, url, body, status, words in cases:
            raw = body if isinstance(body, str) else None
            got, answer = api.request(method, url, body=None if raw else body, raw=raw)
            assert got == status and words in answer["fault_message"], (method, url, got, answer)
        # A stray file in the pool is not taken over.
        with open(os.path.join(pool(h), "stray"), "w") as f:
            f.write("mine")
        h.fails("vol-create", "stray", "1M", words=("not a volume",))
        with open(os.path.join(pool(h), "stray")) as f:
            assert f.read() == "mine"
        # Definitions: a missing volume, a bad name, a volume and a path.
        base = {"drive_id": "d", "is_root_device": False}
        for drive, words in (
                (dict(base, volume="nosuch"), ("no volume named 'nosuch'",)),
                (dict(base, volume="../good"), ("volume name",)),
                (dict(base, volume="good", path_on_host="/etc/passwd"), ("give one of them",)),
                (dict(base, volume=5), ("volume name",))):
            path = os.path.join(h.dir, "bad.json")
            with open(path, "w") as f:
                json.dump({"boot-source": {"kernel_image_path": GUEST}, "drives": [drive]}, f)
            h.fails("define", "web", path, words=words)
        with open(path, "w") as f:
            json.dump({"boot-source": {"kernel_image_path": GUEST},
                       "drives": [dict(base, volume="good"),
                                  dict(base, drive_id="e", volume="good")]}, f)
        h.fails("define", "web", path, words=("named by two drives",))
        assert h.listing("--all") == {}
        assert sorted(volumes(h)) == ["good"]
        assert sorted(os.listdir(pool(h))) == ["good", "stray"]
        h.stop()


@test
def a_pool_directory_of_ones_own():
    with Host() as h:
        mine = os.path.join(h.dir, "fast-pool")
        h.start(args=["--pool-dir", mine])
        h.ok("vol-create", "disk", "1M")
        assert os.listdir(mine) == ["disk"]
        assert json.loads(h.ok("vol-list", "--json"))["pool"] == mine
        assert not os.path.exists(pool(h))
        h.stop()


@test
def hostile_pending_names_and_links_in_the_pool_are_left_alone():
    """Files ternd did not make: a symlink named as a volume is not a
    volume, and a pending-looking name with a bad volume name is kept."""
    with Host() as h:
        h.start()
        secret = os.path.join(h.dir, "secret")
        with open(secret, "w") as f:
            f.write("x")
        os.symlink(secret, os.path.join(pool(h), "link"))
        h.fails("vol-create", "link", "1M", words=())
        h.stop()
        open(os.path.join(pool(h), ".-bad.new"), "w").close()
        h.start()
        assert os.path.exists(os.path.join(pool(h), ".-bad.new"))
        with open(secret) as f:
            assert f.read() == "x"
        h.stop()


# ternd's test hooks exist in the sanitizer build only (build/asan/ternd).
@test_in_builds_where(has_test_hooks)
def kill9_in_the_middle_of_a_create_leaves_the_whole_volume_or_nothing():
    with Host() as h:
        h.start()
        h.ok("vol-create", "kept", "1M")
        h.stop()
        # Written, not committed: nothing.
        h.start(env={"TERND_TEST_KILL_AT": "volume"})
        h.ctl("vol-create", "half", "8M", check=1)
        h.proc.wait(timeout=10)
        assert h.proc.returncode == -signal.SIGKILL
        assert ".half.new" in os.listdir(pool(h)), "the test killed too early"
        h.start()
        assert sorted(volumes(h)) == ["kept"]
        assert sorted(os.listdir(pool(h))) == ["kept"]
        assert "left by an interrupted volume change: removed" in h.stderr()
        h.stop()
        # Committed, not renamed: the next ternd finishes it.
        h.start(env={"TERND_TEST_KILL_AT": "volume-rename"})
        h.ctl("vol-clone", "kept", "whole", check=1)
        h.proc.wait(timeout=10)
        h.start()
        assert sorted(volumes(h)) == ["kept", "whole"]
        assert sorted(os.listdir(pool(h))) == ["kept", "whole"]
        assert volumes(h)["whole"]["capacity"] == 1 << 20
        assert "finished: it is the volume" in h.stderr()
        h.stop()


if __name__ == "__main__":
    main(setup)
