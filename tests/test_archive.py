"""Static archives (ar r/q, ranlib) as thunks: byte-identical to the real tools'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from debian_sources import copy_of, zlib_commands

from ggcc.launcher.archive import ArchiveCommand, parse
from ggcc.launcher.request import Local

GGCC = [sys.executable, "-m", "ggcc"]


@pytest.mark.parametrize(
    "tool, argv, want",
    [
        ("ar", ["rc", "l.a", "a.o", "b.o"], ArchiveCommand("ar", ("rc",), "l.a", ("a.o", "b.o"))),
        ("/usr/bin/ar", ["qcs", "l.a", "a.o"], ArchiveCommand("ar", ("qcs",), "l.a", ("a.o",))),
        ("ranlib", ["l.a"], ArchiveCommand("ranlib", (), "l.a", ())),
        ("ar", ["t", "l.a"], Local("ar-unsupported-operation")),
        ("ar", ["x", "l.a"], Local("ar-unsupported-operation")),
        ("ar", ["ru", "l.a", "a.o"], Local("ar-unsupported-modifier")),
        ("ar", ["rcT", "l.a", "a.o"], Local("ar-unsupported-modifier")),
        ("ar", ["--plugin", "p.so", "rc", "l.a"], Local("ar-unsupported-option")),
        ("ranlib", ["-t", "l.a"], Local("ranlib-unsupported")),
    ],
)
def test_parse(tool: str, argv: list[str], want: object) -> None:
    assert parse(tool, argv) == want


def _run(argv: list[str], cwd: Path, store: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, GGCC_DIR=str(store), GGCC_SANDBOX="strict")
    return subprocess.run(GGCC + argv, cwd=cwd, env=env, capture_output=True)


def _stats(store: Path) -> dict:  # type: ignore[type-arg]
    env = dict(os.environ, GGCC_DIR=str(store))
    return json.loads(subprocess.run(GGCC + ["stats", "--json"], env=env, capture_output=True, check=True).stdout)


def test_zlib_archive_identical_and_cached(tmp_path: Path) -> None:
    tree = copy_of("zlib", tmp_path)
    objs = []
    for argv, cwd in zlib_commands(tree, "-O2"):
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        objs.append(argv[argv.index("-o") + 1])
    store = tmp_path / "store"
    lib = tree / "libz.a"
    plain: dict[str, bytes] = {}
    for name, steps in {
        "make": [["ar", "rc", "libz.a", *objs], ["ranlib", "libz.a"]],  # zlib's Makefile
        "cmake": [["ar", "qc", "libz.a", *objs], ["ranlib", "libz.a"]],  # CMake's rule
    }.items():
        lib.unlink(missing_ok=True)
        for step in steps:
            subprocess.run(step, cwd=tree, check=True, capture_output=True)
        plain[name] = lib.read_bytes()
        for attempt in range(2):  # the second time: all hits
            lib.unlink(missing_ok=True)
            for step in steps:
                p = _run(step, tree, store)
                assert p.returncode == 0, p.stderr
            assert lib.read_bytes() == plain[name], f"{name} attempt {attempt}"
    s = _stats(store)
    assert s["local_fallbacks"] == {} and s["errors"] == 0
    assert s["executed"] == 3  # ar rc, ar qc, ranlib (the same ranlib input twice)
    assert s["cache_hits"] == 5


def test_unsupported_operations_run_the_real_tool(tmp_path: Path) -> None:
    (tmp_path / "a.o").write_bytes(b"not really an object\n")
    subprocess.run(["ar", "rc", "l.a", "a.o"], cwd=tmp_path, check=True)
    store = tmp_path / "store"
    listed = _run(["ar", "t", "l.a"], tmp_path, store)
    assert listed.returncode == 0 and listed.stdout == b"a.o\n"
    missing = _run(["ar", "rc", "l.a", "nope.o"], tmp_path, store)
    plain = subprocess.run(["ar", "rc", "l.a", "nope.o"], cwd=tmp_path, capture_output=True)
    assert (missing.returncode, missing.stderr) == (plain.returncode, plain.stderr)
    assert _stats(store)["local_fallbacks"] == {"ar-unsupported-operation": 1, "missing-member": 1}


def test_s_alone_is_an_operation() -> None:
    assert parse("ar", ["s", "l.a"]) == Local("ar-unsupported-operation")
