"""Faults a hostile user can cause, each on a real zlib build (its own
./configure and make, CC="ggcc gcc", ar and ranlib through ggcc): every
artifact must be what the plain build makes, the build must succeed, and
what ggcc could not do must be counted and, where it turns ggcc off, said.
The same faults on small compiles, one by one, are in test_trust.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from debian_sources import ZLIB_OUTPUTS, copy_of, zlib_outputs
from helpers import GGCC, flip_in_place, ggcc_stats, synced, unusable_ggcc_dir
from servers import redis_server

LAUNCHER = " ".join(GGCC)
MAKE = ["make", "-j4", f"CC={LAUNCHER} gcc", f"AR={LAUNCHER} ar", f"RANLIB={LAUNCHER} ranlib"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """zlib built plainly: its artifacts by name."""
    tree = copy_of("zlib", tmp_path_factory.mktemp("zlib-plain"))
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    subprocess.run(["make", "-j2"], cwd=tree, check=True, capture_output=True)
    out = zlib_outputs(tree)
    assert len(out) >= 40 and "libz.so.1.2.13" in out
    return out


def configured(where: Path) -> Path:
    tree = copy_of("zlib", where)
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    return tree


def make(tree: Path, store: Path, *cmd: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, GGCC_DIR=str(store), **env)
    return subprocess.run(list(cmd) or MAKE, cwd=tree, env=e, capture_output=True, text=True, timeout=900)


def rebuild(tree: Path, store: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """make clean, the same configure, make again through ggcc."""
    subprocess.run(["make", "clean"], cwd=tree, check=True, capture_output=True)
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    return make(tree, store, **env)


def same(tree: Path, plain: dict[str, bytes]) -> None:
    got = zlib_outputs(tree)
    assert sorted(got) == sorted(plain) and sorted(n for n in plain if got[n] != plain[n]) == []
    subprocess.run(["make", "test"], cwd=tree, check=True, capture_output=True)  # and they work


def test_corrupt_blobs_in_the_local_store(tmp_path: Path, plain: dict[str, bytes]) -> None:
    store = tmp_path / "s"
    tree = configured(tmp_path)
    assert make(tree, store).returncode == 0
    synced(store)
    damaged = {oid for result in (store / "results").glob("*/*") for _, oid, _ in json.loads(result.read_text())["outputs"]}
    for oid in damaged:
        flip_in_place(str(store / "blobs" / oid[1:3] / oid[1:]))
    assert len(damaged) >= 30
    p = rebuild(tree, store)  # the same, warm daemon
    assert p.returncode == 0, p.stderr[-2000:]
    same(tree, plain)
    s = ggcc_stats(store)
    # Each blob that a step used was found damaged (one is shared by
    # several results: once), removed, and its step ran again.
    assert s["corrupt_blobs"] >= 20 and s["local_fallbacks"] == {} and s["errors"] == 0, s
    from ggcc.formats import ids

    for result in (store / "results").glob("*/*"):  # what the store holds now is right
        for _, oid, _ in json.loads(result.read_text())["outputs"]:
            blob = store / "blobs" / oid[1:3] / oid[1:]
            assert not blob.exists() or ids.hash_file(str(blob))[1:] == oid[1:]


def test_corrupt_blobs_in_redis(tmp_path: Path, plain: dict[str, bytes]) -> None:
    import redis

    with redis_server(tmp_path) as r:
        tree = configured(tmp_path)  # one tree, two machines (GGCC_DIRs): keys hold the build's paths
        assert make(tree, tmp_path / "s1", GGCC_STORAGE=r.uri).returncode == 0
        synced(tmp_path / "s1")
        client = redis.Redis(port=r.port)
        spoiled = 0
        for key in client.scan_iter("blobs/*:0"):
            data = client.get(key)
            assert isinstance(data, bytes)
            client.set(key, data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:])
            spoiled += 1
        assert spoiled >= 30  # one per distinct output
        p = rebuild(tree, tmp_path / "s2", GGCC_STORAGE=r.uri)
        assert p.returncode == 0, p.stderr[-2000:]
        same(tree, plain)
        s = ggcc_stats(tmp_path / "s2")
        assert s["corrupt_blobs"] >= 20 and s["local_fallbacks"] == {} and s["errors"] == 0, s
        # Found damaged, removed from Redis, put back right by the second
        # machine's runs: a third machine gets hits.
        assert rebuild(tree, tmp_path / "s3", GGCC_STORAGE=r.uri).returncode == 0
        same(tree, plain)
        s = ggcc_stats(tmp_path / "s3")
        assert s["hits_by_tier"]["shared_store"] > 30 and s["corrupt_blobs"] == 0, s


def _look(tree: Path) -> dict[str, object]:
    """Every build output: its type, where a symlink points, its bytes."""
    out: dict[str, object] = {}
    for pat in ZLIB_OUTPUTS:
        for p in sorted(tree.glob(pat)):
            out[p.name] = ("symlink", os.readlink(p)) if p.is_symlink() else ("file", p.read_bytes())
    for p in sorted((tree / "elsewhere").iterdir()):
        out["elsewhere/" + p.name] = p.read_bytes()
    return out


def test_symlink_and_device_outputs(tmp_path: Path) -> None:
    """Objects that are symlinks into another directory (dangling: written
    through; to a full file: replaced), and probe compiles of every source
    into a character device with their depfile in one too."""
    if os.geteuid() != 0:
        pytest.fail("mknod needs root (CI runs as root)")
    store = tmp_path / "s"
    trees = {}
    for who in ("plain", "ours"):
        tree = configured(tmp_path / who)
        (tree / "elsewhere").mkdir()
        (tree / "elsewhere" / "inflate.o").write_text("old\n")
        os.utime(tree / "elsewhere" / "inflate.o", (1e9, 1e9))  # older than its source: make rebuilds it
        os.symlink("elsewhere/adler32.o", tree / "adler32.o")
        os.symlink("elsewhere/inflate.o", tree / "inflate.o")
        subprocess.run(["mknod", "null", "c", "1", "3"], cwd=tree, check=True)
        trees[who] = tree
    assert subprocess.run(["make", "-j2"], cwd=trees["plain"], capture_output=True).returncode == 0
    assert make(trees["ours"], store).returncode == 0
    assert _look(trees["ours"]) == _look(trees["plain"])
    for src in sorted(trees["plain"].glob("*.c")):
        probe = ["gcc", "-O2", "-I.", "-c", src.name, "-o", "null", "-MD", "-MF", "null"]
        want = subprocess.run(probe, cwd=trees["plain"], capture_output=True)
        got = make(trees["ours"], store, *GGCC, *probe)
        assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout.decode(), want.stderr.decode())
        assert (trees["ours"] / "null").is_char_device()
    assert ggcc_stats(store)["local_fallbacks"] == {}


# One of each kind on a whole build (every value of the issue, on small
# builds, is in test_trust.py): a shared store, the engine, a number.
BAD = {"GGCC_STORAGE": ["redis://:hunter2@cache:6379/0"], "GGCC_ENGINE": ["bogus"], "GGCC_JOBS": ["abc"]}


@pytest.mark.parametrize("name, value", [(n, v) for n, vs in BAD.items() for v in vs])
def test_each_bad_setting(tmp_path: Path, plain: dict[str, bytes], name: str, value: str) -> None:
    store = tmp_path / "s"
    tree = configured(tmp_path)
    p = make(tree, store, **{name: value})
    assert p.returncode == 0, p.stderr[-2000:]
    same(tree, plain)
    said = [line for line in p.stderr.splitlines() if line.startswith(f"ggcc: {name}")]
    assert len(said) == 1 and "hunter2" not in p.stderr, p.stderr
    s = ggcc_stats(store)
    assert set(s["local_fallbacks"]) == {"bad-setting"} and s["executed"] == 0, s


@pytest.mark.parametrize("kind", ["under a file", "read-only", "full"])
def test_an_unusable_ggcc_dir(tmp_path: Path, plain: dict[str, bytes], kind: str) -> None:
    with unusable_ggcc_dir(tmp_path, kind) as store:
        tree = configured(tmp_path / "t")
        p = make(tree, store)
        assert p.returncode == 0, p.stderr[-2000:]
        same(tree, plain)
        said = [line for line in p.stderr.splitlines() if "cannot be used" in line]
        assert len(said) == 1 and str(store) in said[0], p.stderr[-2000:]


def test_cache_clear_in_the_middle_of_the_build(tmp_path: Path, plain: dict[str, bytes]) -> None:
    store = tmp_path / "s"
    tree = configured(tmp_path)
    done = threading.Event()

    def clear_when_half_built() -> None:
        deadline = time.monotonic() + 600
        while not done.is_set() and time.monotonic() < deadline:
            if len(list(tree.glob("*.o"))) >= 8:
                subprocess.run(GGCC + ["cache", "clear"], env=dict(os.environ, GGCC_DIR=str(store)), capture_output=True)
                return
            time.sleep(0.02)

    t = threading.Thread(target=clear_when_half_built)
    t.start()
    try:
        p = make(tree, store)
    finally:
        done.set()
        t.join()
    assert p.returncode == 0, p.stderr[-2000:]
    same(tree, plain)
    s = ggcc_stats(store)
    assert s["errors"] == 0 and set(s["local_fallbacks"]) <= {"store-changed"}, s
    assert rebuild(tree, store).returncode == 0  # the same daemon, caching again
    same(tree, plain)
    assert ggcc_stats(store)["local_fallbacks"] == s["local_fallbacks"]


def test_two_builds_at_once(tmp_path: Path, plain: dict[str, bytes]) -> None:
    store = tmp_path / "s"
    trees = [configured(tmp_path / name) for name in ("one", "two")]
    # The sandbox's case: a step in place knows no thunk before it runs, so
    # the two trees' would both run (docs/in-place.md).
    env = dict(os.environ, GGCC_DIR=str(store), GGCC_LOCAL_RUN="sandbox")
    cmd = GGCC + ["make", f"CC={LAUNCHER} gcc", f"AR={LAUNCHER} ar", f"RANLIB={LAUNCHER} ranlib"]
    procs = [subprocess.Popen(cmd, cwd=t, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
             for t in trees]
    steps, runs = [], []
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-2000:]
        m = re.search(r"ggcc: (\d+) steps: (\d+) cache hits(?: \(\d+ from another build root\))?, (\d+) run, (\d+) run without ggcc", err)
        assert m, err[-2000:]
        n, hits, run, local = map(int, m.groups())
        assert n == hits + run + local and local == 0, m.group(0)
        steps.append(n)
        runs.append(run)
    assert steps[0] == steps[1] and sum(steps) == ggcc_stats(store)["invocations"]
    # The same step in the two trees runs once: the second waits for the first and takes its result.
    assert sum(runs) == steps[0], (runs, steps)
    for t in trees:
        same(t, plain)
    shutil.rmtree(tmp_path / "one")
