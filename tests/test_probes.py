"""Configure probes go to the real compiler at once and are never compiled
on save: by name (autoconf, CMake, meson) in the launcher, by behaviour
(one file rewritten again and again) in the daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GGCC

from ggcc.client.probe import is_probe, run_by_configure
from ggcc.launcher.rewrites import PROBE_STREAK, QUICK_S, Rewrites


@pytest.mark.parametrize("argv, cwd, want", [
    ([b"gcc", b"-c", b"-g", b"-O2", b"conftest.c"], b"/src/jq", True),
    ([b"gcc", b"-o", b"conftest", b"-g", b"conftest.c", b"-lm"], b"/src/jq", True),
    ([b"g++", b"-c", b"conftest.cpp"], b"/src", True),
    ([b"gcc", b"-c", b"-o", b"out/conftest2.o", b"conftest.c"], b"/src", True),
    ([b"gcc", b"-c", b"src.c"], b"/b/CMakeFiles/CMakeScratch/TryCompile-abc", True),
    ([b"gcc", b"CMakeCCompilerId.c"], b"/b/CMakeFiles/3.25.1/CompilerIdC", True),
    ([b"cc", b"-c", b"/b/meson-private/tmpx/testfile.c", b"-o", b"/b/meson-private/tmpx/output.obj"], b"/b", True),
    ([b"gcc", b"-c", b"src/core.c", b"-o", b"core.o"], b"/src/libuv/build", False),
    ([b"gcc", b"-c", b"-DNAME=conftest", b"x.c"], b"/src", False),
])
def test_probes_known_by_name(argv: list[bytes], cwd: bytes, want: bool) -> None:
    assert is_probe(argv, cwd) is want


def test_a_file_rewritten_as_its_compile_ends_is_a_probe() -> None:
    r = Rewrites()
    t = 1000.0
    streaks = []
    for i in range(PROBE_STREAK + 1):  # each version written 10 ms after the last compile ended, compiles slow
        streaks.append(r.begin("/tmp/x/test.c", (1, 10 + i, int((t + 0.01) * 1e9)), t + 0.01))
        t += 2.0  # a slow compile (a loaded machine): the rule does not depend on it
        r.ended("/tmp/x/test.c", t)
    assert streaks == list(range(PROBE_STREAK + 1))
    assert r.begin("/tmp/x/test.c", (1, 99, 0), t + 30) == PROBE_STREAK  # and stays one while rewritten
    # An edit-and-build loop, even a brisk one (a save half a second after each build), is not.
    t = 1000.0
    for i in range(4 * PROBE_STREAK):
        assert r.begin("/src/core.c", (2, 5, int((t + 0.5) * 1e9)), t + 0.5) == 0
        t += 0.6
        r.ended("/src/core.c", t)
    # The same version compiled again and again (a static and a shared object) is no rewrite.
    for i in range(4 * PROBE_STREAK):
        assert r.begin("/src/a.c", (3, 5, 5), t + i) == 0
        r.ended("/src/a.c", t + i + QUICK_S / 10)


def _stats(store: Path) -> dict[str, object]:
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, check=True,
                       env=dict(os.environ, GGCC_DIR=str(store)))
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def test_an_autoconf_configure_goes_straight_to_the_compiler(tmp_path: Path) -> None:
    (tmp_path / "configure.ac").write_text(
        "AC_INIT([probe], [1])\nAC_PROG_CC\nAC_CHECK_HEADERS([stdlib.h unistd.h no_such_header.h])\n"
        "AC_CHECK_FUNCS([strdup no_such_function])\nAC_OUTPUT\n")
    subprocess.run(["autoconf"], cwd=tmp_path, check=True, capture_output=True)
    ggcc = " ".join(GGCC)
    store = tmp_path / "store"
    subprocess.run(GGCC + ["daemon", "start"], env=dict(os.environ, GGCC_DIR=str(store)), check=True,
                   capture_output=True)
    p = subprocess.run(["./configure", f"CC={ggcc} gcc"], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, GGCC_DIR=str(store)))
    assert p.returncode == 0, p.stdout[-2000:]
    assert "checking for no_such_header.h... no" in p.stdout and "checking for strdup... yes" in p.stdout
    s = _stats(store)
    local = s["local_fallbacks"]
    assert isinstance(local, dict) and local.get("configure-probe", 0) >= 10, local
    # Nothing else reached the daemon but AC_PROG_CC's questions (gcc --version, -v, -V, -qversion):
    # no scan, no thunk, no failed probe run twice.
    assert all(r == "configure-probe" or r == "verbose" or r.startswith("unknown-option:") for r in local), local
    assert s["executed"] == 0 and s["on_save"] == {"executed": 0, "used_by_builds": 0}, s


def _rewriting_script(tmp_path: Path, name: str) -> Path:
    """A script like zlib's, ffmpeg's or x264's configure: one file,
    rewritten for every probe, each version compiled once."""
    script = ["#!/bin/sh", "set -e", "for i in $(seq 1 40); do",
              "  printf 'int probe%d(void) { return %d; }\\n' $i $i > test.c",
              '  $CC -c test.c -o test.o', "done", ""]
    (tmp_path / name).write_text("\n".join(script))
    (tmp_path / name).chmod(0o755)
    return tmp_path / name


@pytest.mark.parametrize("launcher", ["sh", "python"])
def test_a_script_named_configure_runs_the_compiler_directly(tmp_path: Path, launcher: str) -> None:
    """Its compiles are probes by their parent: all 40 go to the compiler,
    from the sh half of the ggcc command or from the Python launcher."""
    _rewriting_script(tmp_path, "configure")
    store = tmp_path / "store"  # not there yet: the first probe makes it, to count itself
    ggcc = str(Path(sys.executable).parent / "ggcc") if launcher == "sh" else " ".join(GGCC)
    env = dict(os.environ, GGCC_DIR=str(store), CC=f"{ggcc} gcc")
    subprocess.run(["./configure"], cwd=tmp_path, env=env, check=True)
    s = _stats(store)
    assert s["local_fallbacks"] == {"configure-probe": 40} and s["executed"] == 0, s
    assert (tmp_path / "test.o").exists()


def test_a_script_rewriting_one_probe_file(tmp_path: Path) -> None:
    """Any other name: after a few rewrites, known by behaviour; they all
    run here, and compiling on save never compiles them."""
    _rewriting_script(tmp_path, "probe-things.sh")
    store = tmp_path / "store"
    env = dict(os.environ, GGCC_DIR=str(store), CC=" ".join(GGCC) + " gcc")
    subprocess.run(GGCC + ["daemon", "start"], env=env, check=True, capture_output=True)
    subprocess.run(["./probe-things.sh"], cwd=tmp_path, env=env, check=True)
    s = _stats(store)
    local = s["local_fallbacks"]
    assert isinstance(local, dict) and local.get("configure-probe", 0) >= 40 - PROBE_STREAK - 1, s
    assert s["executed"] <= PROBE_STREAK, s
    on_save = s["on_save"]
    assert isinstance(on_save, dict) and on_save["executed"] <= 1, s  # the first rewrite, at most


@pytest.mark.parametrize("cmdline, want", [
    (b"/bin/sh\0./configure\0--prefix=/usr\0", True),
    (b"bash\0../configure\0", True),
    (b"/usr/bin/perl\0./Configure\0linux-x86_64\0", True),
    (b"/bin/sh\0-c\0gcc -c configure.c\0", False),
    (b"/bin/bash\0../libtool\0--mode=compile\0gcc\0", False),
    (b"make\0-j4\0", False),
    (b"", False),
])
def test_run_by_configure(cmdline: bytes, want: bool) -> None:
    assert run_by_configure(cmdline) is want
