"""libuv in a second checkout, warm from the first: ggcc (local store; a
fresh GGCC_DIR through Redis) vs ccache with base_dir vs sccache, same run.

    python integration/bench/travel.py [--rounds 3] [--jobs 2] [--config release|release-tests|debug-mapped]

The first checkout (``a/libuv``) is built once by each tool (cold). Each
round then makes a new checkout at another path (``b<N>/some/where/libuv``)
and builds it, in turn: plainly (the reference), ggcc with the first
build's GGCC_DIR, ggcc with a new GGCC_DIR and the first build's Redis (a
CI runner), ccache (CCACHE_BASEDIR above both checkouts) and sccache, each
in the same ``build`` directory, so that every artifact can be compared
with the plain build's. Prints median wall times, hits, and the artifacts
that differ from the plain build at that path; a JSON line last.

Configurations: ``release`` (Release, no tests: nothing records its path),
``release-tests`` (with the tests: their ASSERT records __FILE__, an
absolute path), ``debug-mapped`` (Debug with the tests and
-ffile-prefix-map=<checkout>=.).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from debian_sources import build_outputs, copy_of  # noqa: E402
from servers import redis_server  # noqa: E402

CONFIGS = {
    "release": ("Release", "", "OFF"),
    "release-tests": ("Release", "", "ON"),
    "debug-mapped": ("Debug", "-ffile-prefix-map=ROOT=.", "ON"),
}


def configure(tree: Path, cfg: tuple[str, str, str], launcher: list[str], env: dict[str, str]) -> None:
    build_type, flags, tests = cfg
    if (tree / "build").exists():
        shutil.rmtree(tree / "build")
    launch = [f"-DCMAKE_C_COMPILER_LAUNCHER={';'.join(launcher)}", f"-DCMAKE_C_LINKER_LAUNCHER={';'.join(launcher)}"] \
        if launcher else []
    subprocess.run(["cmake", "-G", "Ninja", "-S", ".", "-B", "build", f"-DCMAKE_BUILD_TYPE={build_type}",
                    f"-DCMAKE_C_FLAGS={flags.replace('ROOT', str(tree))}", f"-DLIBUV_BUILD_TESTS={tests}", *launch],
                   cwd=tree, env=env, check=True, capture_output=True)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def ggcc_hits(ggcc: str, env: dict[str, str]) -> tuple[int, int]:
    s = json.loads(subprocess.run([ggcc, "stats", "--json"], env=env, check=True, capture_output=True).stdout)
    return int(s["cache_hits"]), int(s["invocations"])


def ccache_hits(env: dict[str, str]) -> tuple[int, int]:
    out = subprocess.run(["ccache", "--print-stats"], env=env, check=True, capture_output=True, text=True).stdout
    v = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    hits = int(v.get("direct_cache_hit", 0)) + int(v.get("preprocessed_cache_hit", 0))
    return hits, hits + int(v.get("cache_miss", 0))


def sccache_hits(env: dict[str, str]) -> tuple[int, int]:
    out = subprocess.run(["sccache", "--show-stats"], env=env, check=True, capture_output=True, text=True).stdout
    hits = int(re.search(r"^Cache hits\s+(\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    misses = int(re.search(r"^Cache misses\s+(\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    return hits, hits + misses


def zero(name: str, ggcc: str, env: dict[str, str]) -> None:
    cmd = {"ccache": ["ccache", "-z"], "sccache": ["sccache", "-z"]}.get(name, [ggcc, "stats", "--zero"])
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="release")
    a = ap.parse_args()
    cfg = CONFIGS[a.config]
    ninja = ["ninja", f"-j{a.jobs}"]
    ggcc = shutil.which("ggcc") or str(Path(sys.executable).parent / "ggcc")
    times: dict[str, list[float]] = {}
    hits: dict[str, list[tuple[int, int]]] = {}
    differ: dict[str, list[int]] = {}
    cold: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d, redis_server(Path(d)) as redis:
        top = Path(d)
        base = dict(os.environ)
        envs: dict[str, dict[str, str]] = {
            "ggcc": dict(base, GGCC_DIR=str(top / "ggcc")),
            "ggcc_redis": dict(base, GGCC_DIR=str(top / "ggcc-redis-0"), GGCC_STORAGE=redis.uri),
        }
        launchers: dict[str, list[str]] = {"ggcc": [ggcc], "ggcc_redis": [ggcc]}
        if shutil.which("ccache"):
            envs["ccache"] = dict(base, CCACHE_DIR=str(top / "ccache"), CCACHE_BASEDIR=str(top))
            launchers["ccache"] = ["ccache"]
        if shutil.which("sccache"):
            envs["sccache"] = dict(base, SCCACHE_DIR=str(top / "sccache"), SCCACHE_IDLE_TIMEOUT="900")
            launchers["sccache"] = ["sccache"]
            subprocess.run(["sccache", "--start-server"], env=envs["sccache"], capture_output=True)
        try:
            first = copy_of("libuv1", top / "a")
            configure(first, cfg, [], base)
            cold["plain"] = timed(ninja, first / "build", base)
            for name, env in envs.items():
                configure(first, cfg, launchers[name], env)
                cold[name] = timed(ninja, first / "build", env)
            for r in range(a.rounds):
                tree = copy_of("libuv1", top / f"b{r}" / "some" / "where")
                configure(tree, cfg, [], base)
                times.setdefault("plain", []).append(timed(ninja, tree / "build", base))
                plain = build_outputs(tree / "build")
                for name, env in envs.items():
                    if name == "ggcc_redis":  # a new machine each round: only Redis is warm
                        env = dict(env, GGCC_DIR=str(top / f"ggcc-redis-{r + 1}"))
                    configure(tree, cfg, launchers[name], env)
                    zero(name, ggcc, env)
                    times.setdefault(name, []).append(timed(ninja, tree / "build", env))
                    got = (ccache_hits(env) if name == "ccache" else sccache_hits(env) if name == "sccache"
                           else ggcc_hits(ggcc, env))
                    hits.setdefault(name, []).append(got)
                    ours = build_outputs(tree / "build")
                    differ.setdefault(name, []).append(
                        sum(1 for k in plain if ours.get(k) != plain[k]) + len(set(ours) - set(plain)))
                    if name == "ggcc_redis":  # that machine is done
                        subprocess.run([ggcc, "daemon", "stop"], env=env, capture_output=True)
                shutil.rmtree(top / f"b{r}")
        finally:
            for name in ("ggcc", "ggcc_redis"):
                subprocess.run([ggcc, "daemon", "stop"], env=envs[name], capture_output=True)
            if "sccache" in envs:
                subprocess.run(["sccache", "--stop-server"], env=envs["sccache"], capture_output=True)
    out: dict[str, object] = {"config": a.config, "cold_s": {k: round(v, 2) for k, v in cold.items()}}
    print(f"libuv ({a.config}), a second checkout at another path, -j{a.jobs}, {a.rounds} rounds")
    print("  cold, first checkout: " + ", ".join(f"{k} {v:.1f} s" for k, v in cold.items()))
    plain_s = statistics.median(times["plain"])
    for name, runs in times.items():
        med = statistics.median(runs)
        line = f"  {name:<11} {med:6.2f} s (runs {', '.join(f'{t:.2f}' for t in runs)})"
        if name != "plain":
            h = hits[name]
            line += (f"  hits {'/'.join(str(x) for x, _ in h)} of {h[0][1]}, artifacts unlike plain "
                     f"{'/'.join(str(x) for x in differ[name])}; {med / plain_s:.2f}x plain")
            if "ccache" in times and name != "ccache":
                line += f", {med / statistics.median(times['ccache']):.2f}x ccache"
        print(line)
        out[name] = {"median_s": round(med, 3), "runs_s": [round(t, 3) for t in runs],
                     "hits": hits.get(name), "differ": differ.get(name)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
