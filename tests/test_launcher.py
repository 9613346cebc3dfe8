"""The compiler launcher on small real compiles: same bytes, same messages,
hits without the compiler, and never a broken build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import stop_daemons

GGCC = [sys.executable, "-m", "ggcc"]


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    (p / "inc").mkdir(parents=True)
    (p / "inc2").mkdir()
    (p / "obj").mkdir()
    (p / "inc" / "conf.h").write_text("#define ANSWER 42\n")
    (p / "a.c").write_text(
        '#include <stdio.h>\n#include "conf.h"\n'
        "int f(int x) { int unused; return x + ANSWER; }\n"
        'int main(void) { printf("%d %s\\n", f(1), __FILE__); return 0; }\n'
    )
    old = time.time() - 10  # outside the hash cache's racy window
    for f in (p / "a.c", p / "inc" / "conf.h"):
        os.utime(f, (old, old))
    return p


def run(cmd: list[str], cwd: Path, store: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    e = dict(os.environ, GGCC_DIR=str(store), GGCC_SANDBOX="strict", **env)
    return subprocess.run(GGCC + cmd, cwd=cwd, capture_output=True, env=e, timeout=300)


def stats(store: Path) -> dict:  # type: ignore[type-arg]
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=dict(os.environ, GGCC_DIR=str(store)), check=True)
    return json.loads(p.stdout)


def same_as_plain(cmd: list[str], cwd: Path, store: Path, outputs: list[str], **env: str) -> subprocess.CompletedProcess[bytes]:
    for o in outputs:
        if (cwd / o).exists():
            (cwd / o).unlink()
    plain = subprocess.run(cmd, cwd=cwd, capture_output=True)
    want = {o: (cwd / o).read_bytes() if (cwd / o).exists() else None for o in outputs}
    for o in outputs:
        if (cwd / o).exists():
            (cwd / o).unlink()
    ours = run(cmd, cwd, store, **env)
    assert (ours.returncode, ours.stdout, ours.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    for o in outputs:
        got = (cwd / o).read_bytes() if (cwd / o).exists() else None
        assert got == want[o], f"{o} differs"
    return ours


CMD = ["gcc", "-O2", "-g", "-Wall", "-Iinc", "-Iinc2", "-MD", "-c", "a.c", "-o", "obj/a.o"]


def test_warnings_object_and_depfile_identical_then_a_direct_hit(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    first = same_as_plain(CMD, proj, store, ["obj/a.o", "obj/a.d"])
    assert b"warning: unused variable" in first.stderr
    s = stats(store)
    assert (s["executed"], s["own_scans"], s["compiler_scans"]) == (1, 1, 0)  # the depfile too: no -M run
    again = same_as_plain(CMD, proj, store, ["obj/a.o", "obj/a.d"])  # replayed warnings too
    assert again.stderr == first.stderr
    s = stats(store)
    assert (s["cache_hits"], s["direct_hits"], s["own_scans"], s["executed"]) == (1, 1, 1, 1)


def test_ggcc_named_twice_compiles_once(proj: Path, tmp_path: Path) -> None:
    """CC="ggcc gcc" and CMake's launcher too: `ggcc /path/to/ggcc gcc ...`."""
    store = tmp_path / "s"
    ggcc = str(Path(sys.executable).parent / "ggcc")
    same_as_plain(CMD, proj, store, ["obj/a.o", "obj/a.d"])
    (proj / "obj" / "a.o").unlink()
    twice = run(["ggcc", ggcc, *CMD], proj, store)
    assert twice.returncode == 0 and (proj / "obj" / "a.o").exists(), twice.stderr
    s = stats(store)
    assert (s["invocations"], s["executed"], s["cache_hits"], s["local_fallbacks"]) == (2, 1, 1, {}), s


def test_pipe_compiles_in_the_strict_sandbox(proj: Path, tmp_path: Path) -> None:
    """-pipe (mosh uses it): gcc would start `as` without the -wrapper
    loader; the thunk runs without -pipe, the same bytes."""
    store = tmp_path / "s"
    same_as_plain([*CMD[:-2], "-pipe", *CMD[-2:]], proj, store, ["obj/a.o", "obj/a.d"])
    s = stats(store)
    assert (s["executed"], s["local_fallbacks"]) == (1, {}), s


def test_changed_header_is_a_miss(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(CMD, proj, store, ["obj/a.o"])
    (proj / "inc" / "conf.h").write_text("#define ANSWER 43\n")
    same_as_plain(CMD, proj, store, ["obj/a.o"])
    assert stats(store)["executed"] == 2


def test_a_new_header_that_shadows_is_a_miss(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    cmd = ["gcc", "-O2", "-Iinc2", "-Iinc", "-c", "a.c", "-o", "obj/a.o"]
    same_as_plain(cmd, proj, store, ["obj/a.o"])
    (proj / "inc2" / "conf.h").write_text("#define ANSWER 7\n")  # earlier in the search list
    same_as_plain(cmd, proj, store, ["obj/a.o"])
    s = stats(store)
    assert s["executed"] == 2 and s["direct_hits"] == 0


def test_broken_tu_reports_exactly_what_the_compiler_says(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    (proj / "bad.c").write_text("int main(void) { return nope; }\n")
    ours = same_as_plain(["gcc", "-c", "bad.c", "-o", "obj/bad.o"], proj, store, ["obj/bad.o"])
    assert ours.returncode == 1
    assert b"'nope' undeclared" in ours.stderr or b"\xe2\x80\x98nope\xe2\x80\x99 undeclared" in ours.stderr
    assert stats(store)["cache_hits"] == 0


def test_missing_header_reports_exactly_what_the_compiler_says(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    (proj / "c.c").write_text('#include "gone.h"\n')
    same_as_plain(["gcc", "-c", "c.c", "-o", "obj/c.o"], proj, store, ["obj/c.o"])
    assert stats(store)["local_fallbacks"] == {"scan-failed": 1}


def test_header_deleted_after_a_build(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(CMD, proj, store, ["obj/a.o"])
    (proj / "inc" / "conf.h").unlink()
    ours = same_as_plain(CMD, proj, store, ["obj/a.o"])
    assert ours.returncode != 0


def test_user_prefix_map_and_absolute_paths(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    cmd = ["gcc", "-g", "-O1", f"-I{proj}/inc", f"-ffile-prefix-map={proj}=/src", "-c", str(proj / "a.c"), "-o", str(proj / "obj/m.o")]
    same_as_plain(cmd, tmp_path, store, [str(proj / "obj/m.o")])
    assert b"/src/a.c" in (proj / "obj/m.o").read_bytes()


def test_mmd_mp_and_targets(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    cmd = ["gcc", "-Iinc", "-MMD", "-MP", "-MT", "custom$target", "-MQ", "q$t", "-MF", "deps/a.dep", "-c", "a.c", "-o", "obj/x.o"]
    (proj / "deps").mkdir()
    same_as_plain(cmd, proj, store, ["obj/x.o", "deps/a.dep"])


def test_march_native_is_expanded_and_identical(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(["gcc", "-O2", "-march=native", "-Iinc", "-c", "a.c", "-o", "obj/n.o"], proj, store, ["obj/n.o"])
    s = stats(store)
    assert s["executed"] == 1 and s["local_fallbacks"] == {}
    # With debug info the flags' order is recorded: run locally, counted.
    same_as_plain(["gcc", "-O2", "-g", "-march=native", "-Iinc", "-c", "a.c", "-o", "obj/g.o"], proj, store, ["obj/g.o"])
    assert stats(store)["local_fallbacks"] == {"march-native-with-debug-info": 1}


def test_march_native_thunk_names_the_concrete_cpu(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    run(["gcc", "-O2", "-march=native", "-Iinc", "-c", "a.c", "-o", "obj/n.o"], proj, store)
    shown = [json.loads((p).read_text()) for p in (store / "toolchains").iterdir()]
    expansion = shown[0]["native_flags"][0][1]
    assert any(f.startswith("-march=") and f != "-march=native" for f in expansion)


def test_cxx_with_gpp(tmp_path: Path) -> None:
    store = tmp_path / "s"
    (tmp_path / "v.cc").write_text("#include <vector>\n#include <string>\nstd::string g(std::vector<int> v) { return std::to_string(v.size()); }\n")
    same_as_plain(["g++", "-O2", "-g", "-std=c++17", "-c", "v.cc", "-o", "v.o"], tmp_path, store, ["v.o"])
    assert stats(store)["executed"] == 1


def test_things_ggcc_does_not_model_run_locally_with_a_reason(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(["gcc", "-Iinc", "-E", "a.c", "-o", "a.i"], proj, store, ["a.i"])
    same_as_plain(["gcc", "-Iinc", "-save-temps", "-c", "a.c", "-o", "obj/t.o"], proj, store, ["obj/t.o"])
    same_as_plain(["gcc", "-Iinc", "--frobnicate", "-c", "a.c", "-o", "obj/u.o"], proj, store, ["obj/u.o"])
    same_as_plain(["gcc", "-Iinc", "a.c", "-o", "prog"], proj, store, ["prog"])
    same_as_plain(["gcc", "-Iinc", "-c", "a.c", "-o", "obj/e.o"], proj, store, ["obj/e.o"], CPATH="/nonexistent")
    local = stats(store)["local_fallbacks"]
    assert local == {
        "preprocess-only": 1,
        "save-temps": 1,
        "unknown-option:--frobnicate": 1,
        "compile-and-link": 1,
        "env:CPATH": 1,
    }


def test_unreadable_source(proj: Path, tmp_path: Path) -> None:
    same_as_plain(["gcc", "-c", "missing.c", "-o", "obj/m.o"], proj, tmp_path / "s", ["obj/m.o"])


def test_compiler_that_does_not_exist(proj: Path, tmp_path: Path) -> None:
    p = run(["no-such-gcc-42", "-c", "a.c"], proj, tmp_path / "s")
    assert p.returncode == 127 and b"no-such-gcc-42: not found" in p.stderr


def test_disable_passes_straight_through(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(CMD, proj, store, ["obj/a.o"], GGCC_DISABLE="1")
    assert stats(store)["invocations"] == 0


def test_corrupt_cached_object_is_not_served(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(CMD, proj, store, ["obj/a.o"])
    for shard in (store / "results").iterdir():
        for r in shard.iterdir():
            obj_id = json.loads(r.read_text())["outputs"][0][1]
            blob = store / "blobs" / obj_id[1:3] / obj_id[1:]
            os.chmod(blob, 0o644)
            blob.write_bytes(b"garbage")  # truncated: size no longer matches
    same_as_plain(CMD, proj, store, ["obj/a.o"])


def test_stats_zero(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    same_as_plain(CMD, proj, store, ["obj/a.o"])
    assert stats(store)["invocations"] == 1
    subprocess.run(GGCC + ["stats", "--zero"], env=dict(os.environ, GGCC_DIR=str(store)), check=True, capture_output=True)
    assert stats(store)["invocations"] == 0


def test_concurrent_first_use_of_an_empty_store(tmp_path: Path) -> None:
    """Many launchers capturing the same toolchain into one empty store."""
    for rnd in range(3):
        store = tmp_path / f"s{rnd}"
        procs = []
        for i in range(4):
            (tmp_path / f"u{i}.c").write_text(f"int u{i}(int x) {{ return x * {i + rnd}; }}\n")
            env = dict(os.environ, GGCC_DIR=str(store), GGCC_SANDBOX="strict")
            procs.append(subprocess.Popen(GGCC + ["gcc", "-O2", "-c", f"u{i}.c", "-o", f"u{i}.o"], cwd=tmp_path, env=env))
        assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
        s = stats(store)
        assert (s["executed"], s["errors"], s["local_fallbacks"]) == (4, 0, {}), s
