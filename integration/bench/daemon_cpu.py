"""Two ggcc installs side by side on libuv (CMake + Ninja, with its tests):
wall time and the daemon's CPU (to the end of what it files after the
build) for cold builds (an empty store each),
then warm rebuilds (`ninja -t clean`, build again from a full cache),
alternated in one run.

    python integration/bench/daemon_cpu.py --ggcc NEW=/venv/bin/ggcc --ggcc OLD=/other/venv/bin/ggcc \
        [--cold-runs 2] [--warm-runs 5]

What it is for: the cost of a change to the daemon's hot path (e.g. the
checks of every blob on use) measured against the install before it, on
the same tree, machine and minute. The daemon's CPU is read from
/proc/<pid>/stat (user + system) around each build; a fresh daemon per
install, started before the cold build. Prints medians, min..max and the
ratio of the medians, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from debian_sources import copy_of  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def daemon_cpu_s(ggcc_dir: str) -> float:
    pid = int(Path(ggcc_dir, "daemon.pid").read_text())
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def build(ggcc: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, daemon CPU s) of one build. The CPU is read after `ggcc
    daemon sync`: what the daemon files after the build is counted too."""
    c0 = daemon_cpu_s(env["GGCC_DIR"])
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    subprocess.run([ggcc, "daemon", "sync"], env=env, check=True, capture_output=True)
    return wall, daemon_cpu_s(env["GGCC_DIR"]) - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ggcc", action="append", required=True, metavar="NAME=PATH", help="an install's ggcc command")
    ap.add_argument("--warm-runs", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=2, help="cold builds each (empty store, fresh daemon), in turn")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    installs = dict(g.split("=", 1) for g in a.ggcc)
    ninja = ["ninja", f"-j{a.jobs}"]
    rows: dict[str, dict[str, list[float]]] = {n: {"cold_wall": [], "cold_cpu": [], "warm_wall": [], "warm_cpu": []}
                                               for n in installs}
    with tempfile.TemporaryDirectory() as d:
        tree = copy_of("libuv1", Path(d))
        trees: dict[str, tuple[Path, dict[str, str]]] = {}
        for name, ggcc in installs.items():
            b = tree / f"build-{name}"
            b.mkdir()
            subprocess.run(["cmake", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DLIBUV_BUILD_TESTS=ON",
                            f"-DCMAKE_C_COMPILER_LAUNCHER={ggcc}", f"-DCMAKE_C_LINKER_LAUNCHER={ggcc}", ".."],
                           cwd=b, check=True, capture_output=True)
            trees[name] = (b, dict(os.environ))
        try:
            # Cold: each round an empty store and a fresh daemon per install,
            # the order turned round each time (the first build of a round
            # also fills the page cache for the rest).
            for r in range(a.cold_runs):
                order = list(trees) if r % 2 == 0 else list(reversed(trees))
                for name in order:
                    b, env = trees[name]
                    if "GGCC_DIR" in env:
                        subprocess.run([installs[name], "daemon", "stop"], env=env, capture_output=True)
                    env = dict(os.environ, GGCC_DIR=os.path.join(d, f"store-{name}-{r}"))
                    trees[name] = (b, env)
                    subprocess.run(["ninja", "-t", "clean"], cwd=b, check=True, capture_output=True)
                    subprocess.run([installs[name], "daemon", "start"], env=env, check=True, capture_output=True)
                    wall, cpu = build(installs[name], ninja, b, env)
                    rows[name]["cold_wall"].append(wall)
                    rows[name]["cold_cpu"].append(cpu)
            for _ in range(a.warm_runs):
                for name, (b, env) in trees.items():
                    subprocess.run(["ninja", "-t", "clean"], cwd=b, check=True, capture_output=True)
                    wall, cpu = build(installs[name], ninja, b, env)
                    rows[name]["warm_wall"].append(wall)
                    rows[name]["warm_cpu"].append(cpu)
        finally:
            for name, (_, env) in trees.items():
                if "GGCC_DIR" in env:
                    subprocess.run([installs[name], "daemon", "stop"], env=env, capture_output=True)
    print(f"libuv with tests, ninja -j{a.jobs}; {a.warm_runs} warm rebuilds each, alternated")
    out: dict[str, float] = {}
    for name, r in rows.items():
        for k, v in r.items():
            out[f"{name}_{k}_s"] = statistics.median(v)
            print(f"  {name:<8} {k:<10} median {statistics.median(v):7.3f} s   ({min(v):.3f}..{max(v):.3f}, n={len(v)})")
    names = list(installs)
    if len(names) == 2:
        x, y = names
        for k in ("cold_wall", "cold_cpu", "warm_wall", "warm_cpu"):
            ratio = out[f"{x}_{k}_s"] / out[f"{y}_{k}_s"]
            out[f"{x}_over_{y}_{k}"] = ratio
            print(f"  {x}/{y} {k:<10} {ratio:.3f}x")
    print(json.dumps({k: round(v, 4) for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
