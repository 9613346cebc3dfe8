"""libuv (with its tests, CMake + Ninja) over a Remote Execution API farm on
this machine, beside plain and ggcc's local engine in the same run; and each
remote step's time, phase by phase.

    python integration/bench/reapi_build.py [--runs 2] [--workers 2] [--remote-jobs 4]

The farm is tests/reapi_stack.py's: BuildGrid 0.4.4 (scheduler on a private
PostgreSQL, CAS and ActionCache in memory) and --workers generic workers
(tests/reapi_worker.py), all on this machine's cores. Each run restarts the
server and its workers empty, then builds:

- plain: `ninja -j --jobs`;
- local: ggcc's local engine, an empty GGCC_DIR;
- reapi: GGCC_ENGINE=reapi, an empty GGCC_DIR and an empty farm
  (`ninja -j --remote-jobs`: the farm's slots, not this machine's cores);
- reapi_ac: an empty GGCC_DIR against the same farm: every step answered by
  its ActionCache.

Then the reapi build's steps, from the timings each Result keeps
(engines/reapi.py): plan (thunk to Action), ac (the ActionCache asked),
upload (FindMissingBlobs and uploads), execute (the Execute call), within
it what the worker says it spent: worker_fetch (inputs into its input
root), worker_run (the command), worker_upload (outputs), and farm (the
rest of the Execute call: queue, scheduler hand-offs, the wire), and
download (outputs read back and checked). Medians, 90th percentiles and
sums over the steps; the local build's per-step run time beside them.
Prints each run, the medians over runs with their spread, JSON last. Use
the Python of a plain install (as for libuv_build.py); needs PostgreSQL
and the test extra (BuildGrid).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

from debian_sources import copy_of  # noqa: E402
from reapi_stack import Stack  # noqa: E402

PHASES = ("plan", "ac", "upload", "execute", "farm", "queued", "worker_fetch", "worker_run", "worker_upload", "download")


def configure(tree: Path, name: str, launcher: str, env: dict[str, str]) -> Path:
    build = tree / f"build-{name}"
    build.mkdir()
    flags = [f"-DCMAKE_C_COMPILER_LAUNCHER={launcher}", f"-DCMAKE_C_LINKER_LAUNCHER={launcher}"] if launcher else []
    subprocess.run(["cmake", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DLIBUV_BUILD_TESTS=ON",
                    *flags, ".."], cwd=build, env=env, check=True, capture_output=True)
    return build


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    subprocess.run(["ninja", "-t", "clean"], cwd=cwd, check=True, capture_output=True)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def step_timings(ggcc_dir: str) -> list[dict[str, float]]:
    """The timings of every result in a local store."""
    out = []
    for path in glob.glob(os.path.join(ggcc_dir, "results", "*", "*")):
        try:
            with open(path, "rb") as f:
                out.append({str(k): float(v) for k, v in json.load(f).get("timings_ms", {}).items()})
        except (OSError, ValueError):
            continue
    return out


def stats_json(ggcc: str, env: dict[str, str]) -> dict[str, Any]:
    p = subprocess.run([ggcc, "stats", "--json"], env=env, capture_output=True, text=True, check=True)
    got: dict[str, Any] = json.loads(p.stdout)
    return got


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def one_run(stack: Stack, a: argparse.Namespace, ggcc: str, d: str, n: int,
            builds: dict[str, Path]) -> dict[str, float]:
    out: dict[str, float] = {}
    base = dict(os.environ)
    stack.kill_workers()
    stack.kill_server()
    stack.start_server()
    for _ in range(a.workers):
        stack.start_worker()
    out["plain_s"] = timed(["ninja", f"-j{a.jobs}"], builds["plain"], base)
    dirs = {name: os.path.join(d, f"run{n}-{name}") for name in ("local", "reapi", "reapi_ac")}
    farm = dict(GGCC_ENGINE="reapi", GGCC_REAPI=stack.uri, GGCC_WORKERS_TIMEOUT="600")
    envs = {"local": dict(base, GGCC_DIR=dirs["local"]),
            "reapi": dict(base, GGCC_DIR=dirs["reapi"], **farm),
            "reapi_ac": dict(base, GGCC_DIR=dirs["reapi_ac"], **farm)}
    try:
        out["local_s"] = timed(["ninja", f"-j{a.jobs}"], builds["local"], envs["local"])
        for name in ("reapi", "reapi_ac"):
            out[f"{name}_s"] = timed(["ninja", f"-j{a.remote_jobs}"], builds["reapi"], envs[name])
            s = stats_json(ggcc, envs[name])
            out[f"{name}_steps"] = float(s["executed_by_engine"]["reapi"])
            out[f"{name}_fallbacks"] = float(sum(s["local_fallbacks"].values()) + sum(s["engine_fallbacks"].values()))
            out[f"{name}_ac_hits"] = float(s["reapi_cache_hits"])
    finally:
        for env in envs.values():
            subprocess.run([ggcc, "daemon", "stop"], env=env, capture_output=True)
    remote = [t for t in step_timings(dirs["reapi"]) if "execute" in t]
    for phase in PHASES:
        values = [t[phase] for t in remote if phase in t]
        if values:
            out[f"step_{phase}_median_ms"] = statistics.median(values)
            out[f"step_{phase}_p90_ms"] = p90(values)
            out[f"step_{phase}_sum_s"] = sum(values) / 1000
    local = [t["run"] for t in step_timings(dirs["local"]) if "run" in t]
    if local:
        out["local_run_median_ms"] = statistics.median(local)
        out["local_run_sum_s"] = sum(local) / 1000
    out["reapi_vs_plain"] = out["reapi_s"] / out["plain_s"]
    out["reapi_vs_local"] = out["reapi_s"] / out["local_s"]
    out["reapi_ac_vs_plain"] = out["reapi_ac_s"] / out["plain_s"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--remote-jobs", type=int, default=4)
    a = ap.parse_args()
    ggcc = shutil.which("ggcc") or str(Path(sys.executable).parent / "ggcc")
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tree = copy_of("libuv1", Path(d))
        base = dict(os.environ, GGCC_DIR=os.path.join(d, "configure"))  # cmake's probes go through ggcc too
        builds = {"plain": configure(tree, "plain", "", base), "local": configure(tree, "local", ggcc, base),
                  "reapi": configure(tree, "reapi", ggcc, base)}
        subprocess.run([ggcc, "daemon", "stop"], env=base, capture_output=True)
        stack = Stack(Path(d) / "farm")
        try:
            stack.start_database()
            for n in range(a.runs):
                r = one_run(stack, a, ggcc, d, n, builds)
                runs.append(r)
                print(f"run {n + 1}: plain {r['plain_s']:.1f} s, local {r['local_s']:.1f} s, reapi "
                      f"{r['reapi_s']:.1f} s ({r['reapi_steps']:.0f} steps on the farm, {r['reapi_fallbacks']:.0f} "
                      f"run here), reapi_ac {r['reapi_ac_s']:.1f} s ({r['reapi_ac_ac_hits']:.0f} ActionCache hits)",
                      flush=True)
        finally:
            stack.stop()
    print(f"\nlibuv with tests; plain and local -j{a.jobs}, reapi -j{a.remote_jobs} on {a.workers} workers; "
          f"median over {a.runs} runs [min..max]")
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    for k in keys:
        lo, hi = min(r[k] for r in runs), max(r[k] for r in runs)
        print(f"  {k:<26} {med[k]:9.2f}  [{lo:.2f}..{hi:.2f}]")
    print(json.dumps({"runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
                      "median": {k: round(v, 3) for k, v in med.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
