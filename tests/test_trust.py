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


# -- outputs that are not regular files ----------------------------------------
# Each scene is made in a plain directory and in a ggcc one; the tool runs in
# each and the two directories must then look the same: every entry's type,
# symlink target, device number and content.
SCENES = {
    "object is a device": (["mknod a.o c 1 3"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "depfile is a device": (["mknod a.d c 1 3"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]),
    "object is a dangling symlink": (["mkdir real", "ln -s real/t.o a.o"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "object is a symlink to a file": (["mkdir real", "echo old > real/t.o", "ln -s real/t.o a.o"],
                                      ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "object is a symlink to an empty file": (["mkdir real", ": > real/t.o", "ln -s real/t.o a.o"],
                                             ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
    "depfile is a symlink": (["mkdir real", "echo old > real/t.d", "ln -s real/t.d a.d"],
                             ["gcc", "-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]),
    "depfile has two names": (["echo old > a.d", "ln a.d other.d"],
                              ["gcc", "-O2", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]),
    "program is a dangling symlink": (["gcc -c a.c -o a.o", "mkdir real", "ln -s real/prog prog"],
                                      ["gcc", "a.o", "-o", "prog"]),
    "program is a symlink to a file": (["gcc -c a.c -o a.o", "mkdir real", "echo old > real/prog", "ln -s real/prog prog"],
                                       ["gcc", "a.o", "-o", "prog"]),
    "archive is a symlink": (["gcc -c a.c -o a.o", "gcc -c -DX=2 a.c -o b.o", "mkdir real", "ar rc real/lib.a b.o",
                              "ln -s real/lib.a lib.a"], ["ar", "rc", "lib.a", "a.o"]),
    "object is a directory": (["mkdir a.o"], ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]),
}


def _scene(d: Path, steps: list[str]) -> None:
    d.mkdir()
    (d / "a.c").write_text("#ifndef X\n#define X 1\n#endif\nint main(void) { return X - 1; }\n")
    for step in steps:
        subprocess.run(step, shell=True, cwd=d, check=True)


def _look(d: Path) -> dict[str, object]:
    import stat

    out: dict[str, object] = {}
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(d))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("symlink", os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = ("file", p.read_bytes(), st.st_nlink)
        elif stat.S_ISCHR(st.st_mode):
            out[rel] = ("char device", st.st_rdev)
        else:
            out[rel] = (stat.S_IFMT(st.st_mode),)
    return out


@pytest.mark.parametrize("scene", list(SCENES))
def test_outputs_that_are_not_regular_files_are_written_as_the_tool_writes_them(tmp_path: Path, scene: str) -> None:
    if os.geteuid() != 0:
        pytest.fail("mknod needs root (CI runs as root)")
    steps, cmd = SCENES[scene]
    store = tmp_path / "s"
    for round_ in range(2):  # the step run, then answered from the cache
        want, got = tmp_path / f"plain{round_}", tmp_path / f"ggcc{round_}"
        _scene(want, steps)
        _scene(got, steps)
        p = plain(cmd, want)
        q = ggcc(cmd, got, store, GGCC_SANDBOX="strict")
        assert (q.returncode, q.stdout, q.stderr) == (p.returncode, p.stdout, p.stderr)
        assert _look(got) == _look(want)


def test_an_object_written_into_a_fifo_reaches_its_reader(tmp_path: Path, src: Path) -> None:
    import threading

    store = tmp_path / "s"
    cmd = ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]
    assert plain(cmd, src).returncode == 0
    want = (src / "a.o").read_bytes()
    for _ in range(2):  # run, then a hit
        (src / "a.o").unlink()
        os.mkfifo(src / "a.o")
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append((src / "a.o").read_bytes()))
        reader.start()
        assert ggcc(cmd, src, store).returncode == 0
        reader.join(30)
        assert got == [want] and (src / "a.o").is_fifo()
