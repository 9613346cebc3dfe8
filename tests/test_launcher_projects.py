"""Real projects through the launcher, under the strict sandbox: objects,
depfiles, stderr and exit codes identical to the plain compiler's."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from debian_sources import copy_of, zlib_commands as _zlib_commands
from helpers import ggcc_stats

GGCC = [sys.executable, "-m", "ggcc"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("projects")


def _env(store: Path, strict: bool = True) -> dict[str, str]:
    env = dict(os.environ, GGCC_DIR=str(store))
    if strict:
        env["GGCC_SANDBOX"] = "strict"
    return env


def _outputs(argv: list[str]) -> list[str]:
    outs = []
    for i, a in enumerate(argv):
        if a in ("-o", "-MF"):
            outs.append(argv[i + 1])
    return outs


def _compare(argv: list[str], cwd: str, store: Path) -> list[str]:
    """Run plain, keep its outputs aside, run through ggcc: the differences."""
    plain = subprocess.run(argv, cwd=cwd, capture_output=True)
    kept = {}
    for o in _outputs(argv):
        p = os.path.join(cwd, o)
        kept[o] = Path(p).read_bytes() if os.path.exists(p) else None
        if os.path.exists(p):
            os.unlink(p)
    ours = subprocess.run(GGCC + argv, cwd=cwd, capture_output=True, env=_env(store))
    diffs = []
    if (plain.returncode, plain.stdout, plain.stderr) != (ours.returncode, ours.stdout, ours.stderr):
        diffs.append(f"{argv[-1]}: exit/stdout/stderr differ: {plain.returncode} vs {ours.returncode}: {ours.stderr[-300:]!r}")
    for o, data in kept.items():
        p = os.path.join(cwd, o)
        got = Path(p).read_bytes() if os.path.exists(p) else None
        if got != data:
            diffs.append(f"{o}: differs from the plain compiler's")
    return diffs


def _check_all(commands: list[tuple[list[str], str]], store: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        diffs = [d for ds in pool.map(lambda c: _compare(c[0], c[1], store), commands) for d in ds]
    assert diffs == []
    stats = json.loads(subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=_env(store), check=True).stdout)
    assert stats["local_fallbacks"] == {}, json.dumps(stats)
    assert stats["executed"] + stats["cache_hits"] == len(commands), stats
    assert stats["executed"] > 0


def _libuv_commands(tree: Path, opt: str) -> list[tuple[list[str], str]]:
    build = tree / "build"
    build.mkdir()
    subprocess.run(
        ["cmake", "-G", "Unix Makefiles", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", "-DLIBUV_BUILD_TESTS=OFF", ".."],
        cwd=build, check=True, capture_output=True,
    )
    cmds = []
    for entry in json.loads((build / "compile_commands.json").read_text()):
        argv = shlex.split(entry["command"])
        obj = argv[argv.index("-o") + 1]
        if "uv_a.dir" not in obj:
            continue  # the shared target compiles the same sources again
        os.makedirs(os.path.join(entry["directory"], os.path.dirname(obj)), exist_ok=True)
        argv = [opt if a == "-O2" else a for a in argv]
        argv += ["-MD", "-MT", obj, "-MF", obj + ".d"]  # as CMake's Ninja generator adds
        cmds.append((argv, entry["directory"]))
    assert len(cmds) >= 30
    return cmds


@pytest.mark.parametrize("opt", ["-O2", "-O0"])
def test_zlib_every_tu_identical_in_strict_sandbox(projects: Path, tmp_path: Path, opt: str) -> None:
    tree = copy_of("zlib", tmp_path)
    _check_all(_zlib_commands(tree, opt), tmp_path / "store")


def test_zlib_with_clang(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is required: run-tests installs it")
    tree = copy_of("zlib", tmp_path)
    _check_all(_zlib_commands(tree, "-O2", "clang"), tmp_path / "store")


@pytest.mark.parametrize("opt", ["-O2", "-O0"])
def test_libuv_every_tu_identical_in_strict_sandbox(projects: Path, tmp_path: Path, opt: str) -> None:
    tree = copy_of("libuv1", tmp_path)
    _check_all(_libuv_commands(tree, opt), tmp_path / "store")


@pytest.mark.parametrize("cxx", ["g++", "clang++"])
def test_cxx_translation_unit_of_a_real_project(tmp_path: Path, cxx: str) -> None:
    tree = copy_of("tinyxml2", tmp_path)
    argv = [cxx, "-O2", "-g", "-Wall", "-Wextra", "-MD", "-c", "tinyxml2.cpp", "-o", "tinyxml2.o"]
    assert _compare(argv, str(tree), tmp_path / "store") == []
    stats = json.loads(subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=_env(tmp_path / "store"), check=True).stdout)
    assert stats["executed"] == 1 and stats["local_fallbacks"] == {}


def test_the_hand_written_ninja_example_builds_the_same_through_ggcc(tmp_path: Path) -> None:
    """examples/ninja/build.ninja: ggcc in the rules of a Ninja file written
    by hand; the same file without ggcc gives the same bytes."""
    example = Path(__file__).resolve().parent.parent / "examples" / "ninja"
    built = {}
    tree = tmp_path / "build"  # one path for both builds: -g records it
    for kind in ("plain", "ggcc"):
        if tree.exists():
            shutil.rmtree(tree)
        shutil.copytree(example, tree)
        if kind == "plain":
            text = (tree / "build.ninja").read_text()
            (tree / "build.ninja").write_text(text.replace("cc = ggcc gcc", "cc = gcc").replace("ar = ggcc ar", "ar = ar"))
        env = dict(os.environ, GGCC_DIR=str(tmp_path / "store"),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        subprocess.run(["ninja"], cwd=tree, env=env, check=True, capture_output=True)
        out = subprocess.run([str(tree / "hello"), "ggcc"], capture_output=True, text=True, check=True).stdout
        assert out == "hello, ggcc\n"
        built[kind] = {p: (tree / p).read_bytes() for p in ("obj/greet.o", "obj/main.o", "obj/libgreet.a", "hello")}
    assert built["plain"] == built["ggcc"]
    stats = ggcc_stats(tmp_path / "store")
    assert stats["executed"] == 4 and stats["local_fallbacks"] == {}, stats
