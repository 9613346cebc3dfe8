"""Shared fixtures: a fresh store per test, and the ggcc CLI as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import stop_daemons

from ggcc.storage.local_store import LocalStore

# The longest tests (minutes each on 2 cores), started first: run-tests
# runs the suite on every core (pytest-xdist), and a long test handed out
# last would run on alone after the others are done.
LONGEST_FIRST = (
    "tests/test_suite.py::",
    "tests/test_demo.py::",
    "tests/test_infer.py::test_jq_libtool_export_symbols_in_deferred_mode",
    "tests/test_infer.py::test_libuv_infer_ninja",
    "tests/test_link.py::test_libuv_cmake_ninja_with_compiler_and_linker_launchers",
    "tests/test_lambda.py::test_zlib_built_on_lambda_is_identical",
    "tests/test_scanner.py::test_libuv_every_translation_unit_exact",
    "tests/test_travel.py::test_libuv_in_a_second_checkout_is_hits",
    "tests/test_travel.py::test_zlib_at_a_second_path_on_a_second_machine_is_all_hits",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, p in enumerate(LONGEST_FIRST) if item.nodeid.startswith(p)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Launchers start a daemon per GGCC_DIR; stop those of this test's
    directories when it ends (and let any forgotten one exit soon)."""
    monkeypatch.setenv("GGCC_DAEMON_IDLE", "60")
    monkeypatch.setenv("GGCC_CONFIG", os.devnull)  # a config file of the machine's user must not change the tests
    monkeypatch.delenv("GGCC_CONFIG_SET", raising=False)  # nor one merged by a ggcc command around the suite
    yield
    stop_daemons(tmp_path)


@pytest.fixture(scope="session")
def libuv_plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """libuv (with its tests) built plain once per session: its source tree
    and the build's outputs by path. The tests that build it through ggcc
    do so in this same tree, one after the other (debug info and RUNPATHs
    record the build directory's path, so it must be the same)."""
    from debian_sources import build_outputs, configure_libuv, copy_of

    tree = copy_of("libuv1", tmp_path_factory.mktemp("libuv"))
    configure_libuv(tree / "build", [])
    subprocess.run(["ninja", "-j2"], cwd=tree / "build", check=True, capture_output=True)
    return tree, build_outputs(tree / "build")


@pytest.fixture
def ggcc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "store"
    monkeypatch.setenv("GGCC_DIR", str(d))
    return d


@pytest.fixture
def store(ggcc_dir: Path) -> LocalStore:
    return LocalStore(str(ggcc_dir))


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(ggcc_dir: Path, tmp_path: Path) -> RunCli:
    """Run `ggcc ARGS` in a work directory, the way a user would."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)

    def run(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, GGCC_DIR=str(ggcc_dir))
        p = subprocess.run(
            [sys.executable, "-m", "ggcc", *args],
            cwd=cwd or work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"ggcc {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    run.work = work  # type: ignore[attr-defined]
    return run


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which Debian source versions the real-project tests used."""
    from debian_sources import CACHE, fetched_versions

    got = fetched_versions()
    if got:
        terminalreporter.write_line(f"Debian sources ({CACHE}): " + ", ".join(f"{k} {v}" for k, v in got.items()))
