"""One cache hit of `gcc -O2 -c deflate.c` (zlib): ggcc vs ccache vs sccache, same run.

    python integration/bench/launcher_hit.py [--runs 15]

Each tool gets its own empty cache, one warm-up compile, then --runs timed
hits (the object is deleted before each, so every run writes it back). The
plain compile and Python's start-up floor (`python -I -S -c pass`) are
measured alongside. Prints medians and ratios, and a JSON line last.
Also the resident size of one launcher waiting on a compile (a miss of a
large generated file): what -j500 costs in memory.
zlib comes from `apt-get source zlib` (cached, as in the tests).

Run it with the Python of a plain install (`pip install .` in a fresh
venv): on the reference machine the development venv (editable install
plus test tools, with their .pth files) starts Python in 35 ms, a plain
install's venv in 18.5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from debian_sources import copy_of  # noqa: E402

CMD = ["gcc", "-O2", "-c", "deflate.c", "-o", "deflate.o"]


def median_time(argv: list[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        obj = cwd / "deflate.o"
        if obj.exists():
            obj.unlink()
        t = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def waiting_rss_mb(ggcc: list[str], work: Path, env: dict[str, str]) -> float:
    """VmRSS of a launcher while the daemon compiles for it."""
    src = work / "big.c"
    src.write_text("".join(f"int f{i}(int *a, int n) {{ int s = {i}; for (int k = 0; k < n; k++) s = s * 31 + a[k]; return s; }}\n"
                           for i in range(3000)))
    p = subprocess.Popen([*ggcc, "gcc", "-O2", "-c", "big.c", "-o", "big.o"], cwd=work, env=env)
    peak = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    return peak / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        tree = copy_of("zlib", Path(d))
        subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
        base = dict(os.environ)
        out["python_floor_ms"] = 1e3 * median_time([sys.executable, "-I", "-S", "-c", "pass"], tree, base, a.runs)
        out["plain_ms"] = 1e3 * median_time(CMD, tree, base, max(3, a.runs // 3))
        ggcc = shutil.which("ggcc") or str(Path(sys.executable).parent / "ggcc")
        # What `ggcc cmake` puts before each compile (the native client, where built), and
        # `ggcc` as CC="ggcc gcc" runs it (bin/ggcc: the same client where built, else the script).
        from ggcc.commands.cmake import launcher

        cmake_launcher = launcher().split(";")
        env = dict(base, GGCC_DIR=os.path.join(d, "ggcc"))
        median_time([ggcc, *CMD], tree, env, 1)  # warm-up: the miss (and the daemon's start)
        out["ggcc_ms"] = 1e3 * median_time([*cmake_launcher, *CMD], tree, env, a.runs)
        out["ggcc_command_ms"] = 1e3 * median_time([ggcc, *CMD], tree, env, a.runs)
        out["launcher_rss_mb"] = waiting_rss_mb(cmake_launcher, Path(d), env)
        subprocess.run([ggcc, "daemon", "stop"], env=env, capture_output=True)
        if shutil.which("ccache"):
            env = dict(base, CCACHE_DIR=os.path.join(d, "ccache"))
            median_time(["ccache", *CMD], tree, env, 1)
            out["ccache_ms"] = 1e3 * median_time(["ccache", *CMD], tree, env, a.runs)
        if shutil.which("sccache"):
            env = dict(base, SCCACHE_DIR=os.path.join(d, "sccache"), SCCACHE_IDLE_TIMEOUT="120")
            subprocess.run(["sccache", "--start-server"], env=env, capture_output=True)
            try:
                median_time(["sccache", *CMD], tree, env, 1)
                out["sccache_ms"] = 1e3 * median_time(["sccache", *CMD], tree, env, a.runs)
            finally:
                subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True)
    print(f"one cache hit of `{' '.join(CMD)}` (zlib), medians of {a.runs}")
    print(f"  ggcc: {' '.join(cmake_launcher)}")
    for k in ("python_floor_ms", "plain_ms", "ggcc_ms", "ggcc_command_ms", "ccache_ms", "sccache_ms"):
        if k in out:
            print(f"  {k[:-3]:<14} {out[k]:8.1f} ms")
    print(f"  launcher RSS   {out['launcher_rss_mb']:8.1f} MB while waiting (issue 26's goal: <= 2 MB)")
    if "ccache_ms" in out:
        out["ggcc_vs_ccache"] = out["ggcc_ms"] / out["ccache_ms"]
        print(f"  ggcc / ccache  {out['ggcc_vs_ccache']:.2f}x (issue 26's goal: <= 1)")
    if "sccache_ms" in out:
        out["ggcc_vs_sccache"] = out["ggcc_ms"] / out["sccache_ms"]
        print(f"  ggcc / sccache {out['ggcc_vs_sccache']:.2f}x (issue 4's goal: <= 0.6x)")
    print(json.dumps({k: round(v, 2) for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
