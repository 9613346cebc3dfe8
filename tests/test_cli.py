"""The generic CLI as users run it, including every bad input the issue names."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import RunCli
from helpers import GGCC


def _one_line_error(p, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    assert p.returncode == code, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("ggcc: error: ")
    return lines[0]


def test_thunk_force_show_round_trip(run_cli: RunCli) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    (work / "a.txt").write_text("hello\n")
    (work / "b.txt").write_text("world\n")
    tid1 = run_cli("thunk", "-i", "a.txt", "-i", "b.txt", "-o", "cat.txt", "--", "/bin/sh", "-c", "cat a.txt b.txt > cat.txt", check=True).stdout.strip()
    assert (work / "cat.txt").read_bytes().startswith(b"ggcc-placeholder 1\n")
    # A placeholder used as an input makes a graph.
    tid2 = run_cli("thunk", "-i", "cat.txt", "-o", "up.txt", "--", "/bin/sh", "-c", "tr a-z A-Z < cat.txt > up.txt", check=True).stdout.strip()
    shown = json.loads(run_cli("show", "--json", "up.txt", check=True).stdout)
    assert shown["id"] == tid2
    assert shown["inputs"][0]["ref"] == tid1
    assert shown["result"] is None
    p = run_cli("force", "up.txt", "cat.txt", "-j", "2")
    assert p.returncode == 0, p.stderr
    assert (work / "up.txt").read_text() == "HELLO\nWORLD\n"
    assert (work / "cat.txt").read_text() == "hello\nworld\n"
    # forced again: a note, not an error
    again = run_cli("force", "up.txt")
    assert again.returncode == 0 and "already a real file" in again.stderr
    human = run_cli("show", tid2, check=True).stdout
    assert f"thunk {tid2}" in human and "result   cached, exit 0" in human


def test_force_by_thunk_id_prints_the_value(run_cli: RunCli) -> None:
    tid = run_cli("thunk", "--no-placeholder", "-o", "o", "--", "/bin/sh", "-c", "echo hi > o", check=True).stdout.strip()
    p = run_cli("force", "-q", tid, check=True)
    ref, vid = p.stdout.split()
    assert ref == tid and vid.startswith("V")
    assert run_cli("cat", vid, check=True).stdout == "hi\n"


def test_failed_thunk_shows_its_stderr_and_leaves_the_placeholder(run_cli: RunCli) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    run_cli("thunk", "-o", "x.o", "--", "/bin/sh", "-c", "echo 'x.c:1: error: nope' >&2; exit 1", check=True)
    before = (work / "x.o").read_bytes()
    p = run_cli("force", "x.o")
    assert p.returncode == 1
    assert "x.c:1: error: nope" in p.stderr and "exit code 1" in p.stderr
    assert (work / "x.o").read_bytes() == before


def test_output_not_produced(run_cli: RunCli) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    run_cli("thunk", "-o", "y.o", "--", "/bin/true", check=True)
    p = run_cli("force", "y.o")
    assert p.returncode == 1 and "'y.o' (y.o) was not produced" in p.stderr
    assert (work / "y.o").read_bytes().startswith(b"ggcc-placeholder")


def test_missing_input_file(run_cli: RunCli) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    line = _one_line_error(run_cli("thunk", "-i", "nope.c", "-o", "z.o", "--", "/bin/true"))
    assert "'nope.c': no such file" in line
    assert not (work / "z.o").exists()  # nothing half-made


def test_program_that_does_not_exist(run_cli: RunCli) -> None:
    line = _one_line_error(run_cli("thunk", "-o", "o", "--", "no-such-compiler-xyz", "-c"))
    assert "no-such-compiler-xyz" in line and "not found" in line


@pytest.mark.parametrize("out", ["../escape.o", "/tmp/abs.o", "a/../../b.o"])
def test_output_paths_that_escape(run_cli: RunCli, out: str) -> None:
    line = _one_line_error(run_cli("thunk", "-o", out, "--", "/bin/true"))
    assert "relative" in line or "escape" in line


def test_truncated_thunk_file(run_cli: RunCli) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    tid = run_cli("thunk", "--no-placeholder", "-o", "o", "--", "/bin/true", check=True).stdout.strip()
    data = run_cli("cat", tid, check=True).stdout.encode()
    (work / "t.thunk").write_bytes(data[: len(data) // 2])
    line = _one_line_error(run_cli("force", "t.thunk"))
    assert "t.thunk" in line and "truncated or corrupt" in line


def test_corrupt_placeholder(run_cli: RunCli) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    (work / "p.o").write_bytes(b"ggcc-placeholder 1\nref T123\n")
    line = _one_line_error(run_cli("force", "p.o"))
    assert "p.o" in line and "corrupt" in line


def test_corrupt_thunk_in_store(run_cli: RunCli, ggcc_dir: Path) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    tid = run_cli("thunk", "-o", "c.o", "--", "/bin/sh", "-c", ": > c.o", check=True).stdout.strip()
    blob = ggcc_dir / "blobs" / tid[1:3] / tid[1:]
    os.chmod(blob, 0o644)
    raw = bytearray(blob.read_bytes())
    raw[-3] ^= 0x01
    blob.write_bytes(bytes(raw))
    p = run_cli("force", "c.o")
    assert p.returncode == 1 and "corrupt" in p.stderr
    assert (work / "c.o").read_bytes().startswith(b"ggcc-placeholder")


def test_unknown_id(run_cli: RunCli) -> None:
    unknown = "T" + "ab" * 32 + "00000010"
    p = run_cli("force", unknown)
    assert p.returncode == 1 and f"{unknown} is not in the store" in p.stderr
    line = _one_line_error(run_cli("cat", "V" + "cd" * 32 + "00000010"))
    assert "not in the store" in line
    line = _one_line_error(run_cli("force", "no-such-target"))
    assert "no-such-target: no such file, and not a thunk id" in line


def test_cache_stats_trim_clear(run_cli: RunCli) -> None:
    run_cli("thunk", "-o", "o", "--", "/bin/sh", "-c", "head -c 100000 /dev/zero > o", check=True)
    run_cli("force", "-q", "o", check=True)
    stats = json.loads(run_cli("cache", "stats", "--json", check=True).stdout)
    assert stats["results"] == 1 and stats["blob_bytes"] > 100_000
    assert "removed" in run_cli("cache", "trim", "--max-size", "1K", check=True).stdout
    after = json.loads(run_cli("cache", "stats", "--json", check=True).stdout)
    assert after["total_bytes"] <= 1024
    _one_line_error(run_cli("cache", "trim", "--max-size", "lots"))
    run_cli("cache", "clear", check=True)
    assert json.loads(run_cli("cache", "stats", "--json", check=True).stdout)["blobs"] == 0


def test_unknown_compiler_is_the_shells_not_found(run_cli: RunCli) -> None:
    p = run_cli("frobnicate-cc", "-c", "x.c")
    assert p.returncode == 127 and "frobnicate-cc: not found" in p.stderr


def test_progress_is_live_on_a_terminal_and_plain_otherwise(run_cli: RunCli, ggcc_dir: Path) -> None:
    import subprocess
    import sys

    work: Path = run_cli.work  # type: ignore[attr-defined]
    run_cli("thunk", "-o", "p1", "--", "/bin/sh", "-c", "echo 1 > p1", check=True)
    plain = run_cli("force", "p1")
    assert plain.returncode == 0
    assert "ggcc: [1/1] done sh -> p1" in plain.stderr
    run_cli("thunk", "-o", "p2", "--", "/bin/sh", "-c", "echo 2 > p2", check=True)
    master, slave = os.openpty()
    env = dict(os.environ, GGCC_DIR=str(ggcc_dir), COLUMNS="100", TERM="xterm")
    p = subprocess.run([sys.executable, "-m", "ggcc", "force", "p2"], cwd=work, env=env, stderr=slave, stdout=subprocess.PIPE, timeout=60)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert p.returncode == 0
    assert "ggcc force" in screen and "1/1" in screen  # rich's bar, not plain lines
    assert "[1/1] done" not in screen
    assert (work / "p2").read_text() == "2\n"


def _ggcc(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(GGCC + list(args), capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def test_help_starts_with_the_launcher_and_the_settings_that_matter() -> None:
    p = _ggcc("--help")
    assert p.returncode == 0
    head = p.stdout[:1500]
    for want in ("ggcc gcc -O2 -c x.c", 'CC="ggcc gcc"', "ggcc cmake -G Ninja", "CMAKE_C_COMPILER_LAUNCHER=ggcc",
                 "GGCC_DIR", "GGCC_STORAGE", "GGCC_ENGINE", "GGCC_DISABLE=1", "ggcc config"):
        assert want in head, want
    assert "doctor" in p.stdout and "config" in p.stdout
    cmake = _ggcc("cmake", "--help").stdout
    for option in ("--compile-only", "--print-init-cache", "--print-preset"):
        assert option in cmake, option


def test_bare_ggcc_says_one_line_and_a_near_miss_runs_nothing(tmp_path: Path) -> None:
    env = dict(os.environ, GGCC_DIR=str(tmp_path / "store"))
    p = _ggcc(env=env)
    assert (p.returncode, p.stdout, p.stderr.count("\n")) == (2, "", 1), p
    assert "ggcc --help" in p.stderr
    for typo, meant in (("stat", "stats"), ("doctr", "doctor"), ("nija", "ninja")):
        p = _ggcc(typo, "--version", cwd=tmp_path, env=env)
        assert p.returncode == 2 and p.stdout == "", p
        assert f"did you mean `ggcc {meant}`?" in p.stderr, p.stderr
    assert not (tmp_path / "store").exists()  # nothing ran through ggcc, no daemon started
    # A program of such a name still runs through ggcc when named by its path; compiler names are never typos.
    p = _ggcc("/usr/bin/stat", "--version", cwd=tmp_path, env=env)
    assert p.returncode == 0 and "stat (GNU coreutils)" in p.stdout, p
    p = _ggcc("gcc", "--version", cwd=tmp_path, env=env)
    assert p.returncode == 0 and "gcc" in p.stdout, p
