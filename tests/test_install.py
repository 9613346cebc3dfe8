"""bin/ggcc as pip installs it: the native client, or without a C
compiler the script, which starts Python without site.

The development venv holds ggcc as an editable install, whose package only
site can find: every other test runs the Python launcher's slower path.
Here ggcc is installed the way users get it (a wheel into a fresh venv) and
the fast paths are checked: bin/ggcc is the client, which hands over to the
venv's python3 with -I -S; without a client, sh starts that python3, and a
compile imports neither site nor os nor anything beyond ggcc's client.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import ggcc_stats

REPO = Path(__file__).resolve().parent.parent
SRC = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"


def _install(d: Path, **build_env: str) -> Path:
    """A fresh venv with ggcc installed from a wheel; its dependencies come
    from the development venv through a .pth file (no network here)."""
    src = d / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "bin", "ggcc"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, src / name)  # type: ignore[operator]
    env = d / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    # The wheel is built as pip builds it for users (setuptools in an
    # isolated build environment, from the package index), ggcc-client with it.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(d / "wheel"), str(src)],
                   check=True, cwd=d, env=dict(os.environ, **build_env))
    wheel = next((d / "wheel").glob("ggcc-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python3"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, cwd=d)
    site = next((env / "lib").glob("python3*/site-packages"))
    (site / "dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(tmp_path_factory.mktemp("install"))


@pytest.fixture(scope="module")
def venv_without_cc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Installed where no C compiler works: no native client, Python does it all."""
    return _install(tmp_path_factory.mktemp("install-no-cc"), CC="/bin/false")


def _env(store: Path) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store))


def _execs_of(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run cmd; its stderr holds the programs its process became (strace
    without -f: not the daemon it may start, which outlives it)."""
    p = subprocess.run(["strace", "-qq", "-s", "4096", "-e", "trace=execve", "-e", "signal=none", *cmd], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p


def test_the_installed_command_is_the_native_client(venv: Path, tmp_path: Path) -> None:
    """bin/ggcc is ggcc-client itself: a compile named `ggcc` starts no sh;
    the script is bin/ggcc-python, which the client execs for the rest."""
    ggcc, client, script = (venv / "bin" / n for n in ("ggcc", "ggcc-client", "ggcc-python"))
    assert os.access(client, os.X_OK), "pip install builds ggcc-client (setup.py)"
    assert ggcc.read_bytes() == client.read_bytes() and os.access(ggcc, os.X_OK)
    assert script.read_bytes() == (REPO / "bin" / "ggcc").read_bytes()
    assert "linux" in next((venv.parent / "wheel").glob("ggcc-*.whl")).name  # a binary: not a pure wheel
    (tmp_path / "a.c").write_text(SRC)
    subprocess.run(["gcc", "-O2", "-c", "a.c", "-o", "plain.o"], cwd=tmp_path, check=True)
    store = tmp_path / "store"
    python = f'execve("{venv}/bin/python3", ["{venv}/bin/python3", "-I", "-S", "{script}", "gcc"'
    for out, handed_over in (("a.o", True), ("a.o", False)):  # the first to Python, which starts the daemon; a hit
        (tmp_path / out).unlink(missing_ok=True)
        p = _execs_of([str(ggcc), "gcc", "-O2", "-c", "a.c", "-o", out], tmp_path, _env(store))
        assert (tmp_path / out).read_bytes() == (tmp_path / "plain.o").read_bytes()
        execs = [line for line in p.stderr.splitlines() if line.startswith("execve(")]
        assert execs[0].startswith(f'execve("{ggcc}", ') and len(execs) == 1 + handed_over, execs  # no sh
        assert not handed_over or execs[1].startswith(python), execs
    status = subprocess.run([str(ggcc), "daemon", "status"], env=_env(store), capture_output=True, text=True)
    assert "native client 1 compiles" in status.stdout, status
    s = ggcc_stats(store)
    assert (s["invocations"], s["executed"], s["cache_hits"], s["local_fallbacks"]) == (2, 1, 1, {}), s
    # The script, run by hand, still hands compiles to the client beside it.
    (tmp_path / "a.o").unlink()
    p = subprocess.run(["sh", "-x", str(script), "gcc", "-O2", "-c", "a.c", "-o", "a.o"], cwd=tmp_path,
                       env=_env(store), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and f"exec {client} gcc -O2 -c a.c -o a.o" in p.stderr, p.stderr


def test_without_a_c_compiler_the_install_uses_python(venv_without_cc: Path, tmp_path: Path) -> None:
    venv = venv_without_cc
    ggcc = venv / "bin" / "ggcc"
    assert not (venv / "bin" / "ggcc-client").exists()
    assert ggcc.read_bytes().startswith(b"#!/bin/sh\n")  # pip left it alone: no "#!python" to rewrite
    (tmp_path / "a.c").write_text(SRC)
    subprocess.run(["gcc", "-O2", "-c", "a.c", "-o", "plain.o"], cwd=tmp_path, check=True)
    store = tmp_path / "store"
    # The sh half: which python, with which options.
    p = subprocess.run(["sh", "-x", str(ggcc), "gcc", "-O2", "-c", "a.c", "-o", "a.o"], cwd=tmp_path,
                       env=_env(store), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"exec {venv}/bin/python3 -I -S {ggcc} gcc -O2 -c a.c -o a.o" in p.stderr
    assert (tmp_path / "a.o").read_bytes() == (tmp_path / "plain.o").read_bytes()
    # The Python half, with those options: a hit imports ggcc's client and
    # nothing it does not need.
    (tmp_path / "a.o").unlink()
    p = subprocess.run([str(venv / "bin" / "python3"), "-I", "-S", "-X", "importtime", str(ggcc),
                        "gcc", "-O2", "-c", "a.c", "-o", "a.o"], cwd=tmp_path, env=_env(store),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    imported = {line.rpartition("|")[2].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert {"ggcc.client.launch", "ggcc.client.wire", "_socket"} <= imported, imported
    assert not imported & {"site", "os", "typing", "re", "ggcc.base.config", "ggcc.launcher"}, imported & {"site", "os"}
    assert (tmp_path / "a.o").read_bytes() == (tmp_path / "plain.o").read_bytes()
    s = ggcc_stats(store)
    assert (s["invocations"], s["executed"], s["cache_hits"], s["local_fallbacks"]) == (2, 1, 1, {}), s


def test_a_linked_command_and_the_cli_work_too(venv: Path, tmp_path: Path) -> None:
    """pipx links the command from elsewhere: the client finds the venv's
    python3 and ggcc-python beside its real file. CLI commands set up site
    themselves (ggcc's dependencies, .pth files: here the development
    venv's packages)."""
    (tmp_path / "bin").mkdir()
    linked = tmp_path / "bin" / "ggcc"
    linked.symlink_to(venv / "bin" / "ggcc")
    (tmp_path / "a.c").write_text(SRC)
    store = tmp_path / "store"
    p = _execs_of([str(linked), "gcc", "-c", "a.c", "-o", "a.o"], tmp_path, _env(store))
    assert f'execve("{venv}/bin/python3", ["{venv}/bin/python3", "-I", "-S", "{venv}/bin/ggcc-python", "gcc"' \
        in p.stderr, p.stderr
    p = subprocess.run([str(linked), "stats", "--json"], env=_env(store), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and '"executed": 1' in p.stdout, p.stderr
