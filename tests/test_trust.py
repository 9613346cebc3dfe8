"""Never a wrong output, never a broken build, never silently off: each
fault a hostile user can cause, on small real compiles (the same faults on
a whole zlib build are in test_faults.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import flip_in_place as _flip_in_place, ggcc_stats

GGCC = [sys.executable, "-m", "ggcc"]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "h.h").write_text("#define K 12345\nstatic inline int h(int x) { return x * K; }\n")
    (d / "a.c").write_text('#include "h.h"\nint a(int x) { return h(x) + 1; }\n')
    (d / "b.c").write_text('#include "h.h"\nint b(int x) { return h(x) + 2; }\n')
    old = time.time() - 10  # outside the hash cache's racy window
    for f in d.iterdir():
        os.utime(f, (old, old))
    return d


def ggcc(args: list[str], cwd: Path, store: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    e = dict(os.environ, GGCC_DIR=str(store), **env)
    return subprocess.run(GGCC + args, cwd=cwd, capture_output=True, env=e, timeout=300)


def plain(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, cwd=cwd, capture_output=True, timeout=300)


def object_blob(store: Path) -> Path:
    """The stored blob of the one object compiled so far."""
    (result,) = [r for shard in (store / "results").iterdir() for r in shard.iterdir()]
    oid = json.loads(result.read_text())["outputs"][0][1]
    return store / "blobs" / oid[1:3] / oid[1:]


def test_an_object_damaged_in_the_store_is_never_served(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    cmd = ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]
    assert plain(cmd, src).returncode == 0
    want = (src / "a.o").read_bytes()
    assert ggcc(cmd, src, store).returncode == 0
    _flip_in_place(str(object_blob(store)))
    (src / "a.o").unlink()
    p = ggcc(cmd, src, store)  # the daemon that stored it, warm: it must look again
    assert p.returncode == 0 and (src / "a.o").read_bytes() == want
    s = ggcc_stats(store)
    assert (s["corrupt_blobs"], s["executed"], s["cache_hits"], s["local_fallbacks"]) == (1, 2, 0, {}), s
    (src / "a.o").unlink()
    assert ggcc(cmd, src, store).returncode == 0 and (src / "a.o").read_bytes() == want
    assert ggcc_stats(store)["direct_hits"] == 1  # the step's new run is cached


def test_a_header_damaged_in_the_store_is_never_compiled(src: Path, tmp_path: Path) -> None:
    """The header's blob sits, hard-linked, in the warm daemon's pooled
    sandbox; its bytes changed there (mtime kept) must not reach b.o."""
    store = tmp_path / "s"
    assert plain(["gcc", "-O2", "-c", "b.c", "-o", "b.o"], src).returncode == 0
    want = (src / "b.o").read_bytes()
    assert ggcc(["gcc", "-O2", "-c", "a.c", "-o", "a.o"], src, store).returncode == 0
    import hashlib

    hid = hashlib.sha256((src / "h.h").read_bytes()).hexdigest()
    (blob,) = (store / "blobs" / hid[:2]).glob(hid + "*")
    _flip_in_place(str(blob))
    (src / "b.o").unlink()
    assert ggcc(["gcc", "-O2", "-c", "b.c", "-o", "b.o"], src, store).returncode == 0
    assert (src / "b.o").read_bytes() == want
    s = ggcc_stats(store)
    assert s["corrupt_blobs"] == 1 and s["executed"] == 2 and s["local_fallbacks"] == {}, s
