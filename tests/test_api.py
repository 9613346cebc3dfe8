"""The Python API: fib(N) as a dynamic graph, answered from the cache the second time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fib.py"


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _run(ggcc_dir: Path, n: int) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GGCC_DIR=str(ggcc_dir))
    return subprocess.run([sys.executable, str(EXAMPLE), str(n)], env=env, capture_output=True, text=True, timeout=300)


def test_fib_example_runs_then_hits_the_cache(ggcc_dir: Path) -> None:
    first = _run(ggcc_dir, 12)
    assert first.returncode == 0, first.stderr
    assert int(first.stdout) == _fib(12)
    # fib(k) for k = 0..12 and add for k = 2..12: each distinct thunk runs once.
    assert "fib(12): 24 thunks run, 0 answered from the cache" in first.stderr
    second = _run(ggcc_dir, 12)
    assert int(second.stdout) == _fib(12)
    assert "0 thunks run" in second.stderr


def test_fib_grows_on_an_existing_cache(ggcc_dir: Path) -> None:
    assert _run(ggcc_dir, 8).returncode == 0
    more = _run(ggcc_dir, 10)
    assert int(more.stdout) == _fib(10)
    assert "4 thunks run" in more.stderr  # fib(9), fib(10), add(9), add(10)


def test_bad_argument(ggcc_dir: Path) -> None:
    env = dict(os.environ, GGCC_DIR=str(ggcc_dir))
    p = subprocess.run([sys.executable, str(EXAMPLE), "x"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "usage" in p.stderr
