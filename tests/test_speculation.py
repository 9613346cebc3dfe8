"""Compiling on save: the daemon compiles a source it knows the moment it is
written, for the store only; the build's own compile then finds it, and
its outputs and messages are the plain compiler's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ggcc.daemon.inotify import Inotify

GGCC = [sys.executable, "-m", "ggcc"]
CFLAGS = ["-O2", "-g", "-Wall", "-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"]


def _env(store: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store), **extra)


def _stats(store: Path) -> dict[str, object]:
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=_env(store), check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def _on_save(store: Path) -> dict[str, int]:
    return _stats(store)["on_save"]  # type: ignore[return-value]


def _wait_for_on_save(store: Path, executed: int, timeout: float = 30.0) -> dict[str, int]:
    end = time.monotonic() + timeout
    while (s := _on_save(store))["executed"] < executed and time.monotonic() < end:
        time.sleep(0.05)
    return s


def _ggcc_then_plain(work: Path, store: Path, **extra: str) -> tuple[subprocess.CompletedProcess[bytes], bytes, bytes,
                                                                   subprocess.CompletedProcess[bytes], bytes, bytes]:
    """(ggcc's run, its object, its depfile, gcc's run, its object, its depfile)."""
    ours = subprocess.run(GGCC + ["gcc", *CFLAGS], cwd=work, env=_env(store, **extra), capture_output=True)
    obj, dep = (work / "a.o").read_bytes(), (work / "a.d").read_bytes()
    plain = subprocess.run(["gcc", *CFLAGS], cwd=work, capture_output=True)
    return ours, obj, dep, plain, (work / "a.o").read_bytes(), (work / "a.d").read_bytes()


def _source(work: Path) -> Path:
    work.mkdir(exist_ok=True)
    (work / "a.h").write_text("int twice(int x);\n")
    src = work / "a.c"
    src.write_text('#include "a.h"\nint twice(int x) { return 2 * x; }\n')
    return src


def test_a_saved_source_is_compiled_before_the_build_asks(tmp_path: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    src = _source(work)
    first = _ggcc_then_plain(work, store)
    assert first[0].returncode == 0 and first[1] == first[4]
    before = sorted(os.listdir(work))
    obj_stat = os.stat(work / "a.o")
    # A save that adds a warning: the build must still print it.
    with open(src, "a") as f:
        f.write("int unused_var(void) { int u; return 1; }\n")
    s = _wait_for_on_save(store, 1)
    assert s == {"executed": 1, "used_by_builds": 0}, s
    # For the store only: nothing in the build tree was written or added.
    assert sorted(os.listdir(work)) == before
    assert os.stat(work / "a.o").st_mtime_ns == obj_stat.st_mtime_ns
    ours, obj, dep, plain, pobj, pdep = _ggcc_then_plain(work, store)
    assert (ours.returncode, ours.stdout, ours.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert b"unused variable" in ours.stderr
    assert obj == pobj and dep == pdep
    st = _stats(store)
    # The build's compile counts as executed (its run happened on save), not as a hit.
    assert (st["invocations"], st["executed"], st["cache_hits"], st["on_save"]) == (
        2, 2, 0, {"executed": 1, "used_by_builds": 1}), st
    # Run in place, as the build's own compile would be: no header scan before it, no sandbox.
    assert (st["own_scans"], st["in_place"]) == (0, 1), st


def test_the_link_after_a_saved_source_runs_before_the_build_asks(tmp_path: Path) -> None:
    """The object made on save starts the link that reads it (known from
    the last build); the build's link then finds it, identical."""
    store, work = tmp_path / "store", tmp_path / "work"
    src = _source(work)
    (work / "m.c").write_text('#include <stdio.h>\n#include "a.h"\nint main(void) { printf("%d\\n", twice(21)); }\n')
    compile_a = ["gcc", "-O2", "-c", "a.c", "-o", "a.o"]
    steps = [compile_a, ["gcc", "-O2", "-c", "m.c", "-o", "m.o"], ["gcc", "a.o", "m.o", "-o", "prog"]]
    for argv in steps:
        subprocess.run(GGCC + argv, cwd=work, env=_env(store), check=True)
    assert subprocess.run(["./prog"], cwd=work, capture_output=True, text=True).stdout == "42\n"
    prog_stat = os.stat(work / "prog")
    with open(src, "a") as f:
        f.write("int thrice(int x) { return 3 * x; }\n")
    s = _wait_for_on_save(store, 2)
    assert s == {"executed": 2, "used_by_builds": 0}, s  # the compile, then the link
    assert os.stat(work / "prog").st_mtime_ns == prog_stat.st_mtime_ns  # not written: the build will
    for argv in (compile_a, steps[2]):
        subprocess.run(GGCC + argv, cwd=work, env=_env(store), check=True)
    ours = (work / "prog").read_bytes()
    for argv in (compile_a, steps[2]):
        subprocess.run(argv, cwd=work, check=True)
    assert ours == (work / "prog").read_bytes()
    st = _stats(store)
    assert (st["invocations"], st["executed"], st["cache_hits"], st["links"]) == (5, 5, 0, 2), st
    assert st["on_save"] == {"executed": 2, "used_by_builds": 2}, st


def test_a_build_right_after_the_save_waits_for_that_compile(tmp_path: Path) -> None:
    """The build asks while the compile on save runs: same outputs, one compile each time."""
    store, work = tmp_path / "store", tmp_path / "work"
    src = _source(work)
    _ggcc_then_plain(work, store)
    for i in range(5):
        time.sleep(0.5)  # a person's pace: a file rewritten faster is a configure's probe (rewrites.py)
        with open(src, "a") as f:
            f.write(f"int f{i}(int x) {{ return x + {i}; }}\n")
        ours, obj, dep, plain, pobj, pdep = _ggcc_then_plain(work, store)
        assert ours.returncode == plain.returncode == 0 and ours.stderr == plain.stderr
        assert obj == pobj and dep == pdep, i
    st = _stats(store)
    saved = st["on_save"]
    assert isinstance(saved, dict)
    # Each build's compile ran once: on save, or (when the build asked
    # first) by the request itself; never twice for one save.
    assert st["executed"] == 6 and st["cache_hits"] == 0, st
    assert saved["used_by_builds"] == saved["executed"] >= 1, st


def test_a_broken_save_gives_the_build_the_compilers_errors(tmp_path: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    src = _source(work)
    _ggcc_then_plain(work, store)
    with open(src, "a") as f:
        f.write("int broken(void) { return nope; }\n")
    time.sleep(1.0)  # the compile on save fails; failures are never stored
    ours = subprocess.run(GGCC + ["gcc", *CFLAGS], cwd=work, env=_env(store), capture_output=True)
    plain = subprocess.run(["gcc", *CFLAGS], cwd=work, capture_output=True)
    assert plain.returncode == 1 and b"nope" in plain.stderr
    assert (ours.returncode, ours.stderr) == (plain.returncode, plain.stderr)
    assert _on_save(store) == {"executed": 0, "used_by_builds": 0}


def test_ggcc_speculate_0_leaves_the_compile_to_the_build(tmp_path: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    src = _source(work)
    _ggcc_then_plain(work, store, GGCC_SPECULATE="0")
    with open(src, "a") as f:
        f.write("int g(void) { return 3; }\n")
    time.sleep(1.5)  # a compile on save of this tiny file takes ~50 ms
    assert _on_save(store) == {"executed": 0, "used_by_builds": 0}
    ours, obj, _, plain, pobj, _ = _ggcc_then_plain(work, store, GGCC_SPECULATE="0")
    assert ours.returncode == 0 and obj == pobj
    assert _stats(store)["executed"] == 2


def test_a_build_that_asks_before_its_compile_on_save_started_does_it_at_once(tmp_path: Path) -> None:
    """With one job, a slow compile on save holds the only worker; the
    quick source saved after it waits in the queue. The build's request for
    it drops that queued speculation and compiles itself: it never waits
    for the queue (on a remote engine that could be hundreds of compiles)."""
    store, work = tmp_path / "store", tmp_path / "work"
    src = _source(work)
    slow = work / "slow.c"
    slow.write_text("".join(
        f"int s{i}(int *a, int n) {{ int s = {i}; for (int k = 0; k < n; k++) s = s * 31 + a[k] * {i % 7 + 1}; "
        f"return s; }}\n" for i in range(1500)))
    env = _env(store, GGCC_JOBS="1")
    slow_cmd = ["gcc", "-O2", "-c", "slow.c", "-o", "slow.o"]
    for argv in (slow_cmd, ["gcc", *CFLAGS]):
        subprocess.run(GGCC + argv, cwd=work, env=env, check=True)
    with open(slow, "a") as f:
        f.write("int more(void) { return 1; }\n")
    time.sleep(0.3)  # the slow one is running on save (it takes seconds at -O2)
    with open(src, "a") as f:
        f.write("int g(void) { return 2; }\n")
    t = time.monotonic()
    ours = subprocess.run(GGCC + ["gcc", *CFLAGS], cwd=work, env=env, capture_output=True)
    took = time.monotonic() - t
    obj = (work / "a.o").read_bytes()
    s = _wait_for_on_save(store, 1)
    assert ours.returncode == 0
    subprocess.run(["gcc", *CFLAGS], cwd=work, check=True)
    assert obj == (work / "a.o").read_bytes()
    time.sleep(0.5)  # had it not been dropped, a.c's compile on save would run after the slow one
    st = _stats(store)
    assert st["on_save"] == {"executed": 1, "used_by_builds": 0}, (st, took)  # the slow one only
    assert st["executed"] == 3 and st["cache_hits"] == 0, st


def test_inotify_reports_files_written_and_renamed_in(tmp_path: Path) -> None:
    watched, other = tmp_path / "w", tmp_path / "o"
    watched.mkdir()
    other.mkdir()
    ino = Inotify()
    try:
        ino.watch(str(watched))
        (watched / "x.c").write_text("1")  # written in place
        (other / "y.c").write_text("2")  # not watched
        (watched / ".y.c.tmp").write_text("3")
        os.rename(watched / ".y.c.tmp", watched / "y.c")  # an editor's save by rename
        got: list[tuple[str, str]] = []
        end = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < end:
            batch = ino.read(0.5)
            assert batch is not None
            got += batch
        assert got == [(str(watched), "x.c"), (str(watched), ".y.c.tmp"), (str(watched), "y.c")]
        assert ino.read(0.1) == []  # nothing more: the other directory is not watched
    finally:
        ino.close()
