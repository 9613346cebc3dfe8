"""Header scan time per libuv translation unit: ggcc's scanner vs `gcc -M`.

    python integration/bench/scan.py [--limit N] [--rounds 3]

For every compile of libuv (with its tests, from CMake's compile commands),
in one run:

- gcc_M: the compiler's own `-M`, as ggcc runs it when it cannot scan;
- cold:  ggcc's scanner with empty caches for every translation unit (no
         directive lists, no file hashes, no directory listings, no
         remembered #if values, lookups or header summaries); the
         per-flag-set compiler run (-dM -v) is done once beforehand and
         reported on its own, since a build pays it once per flag set;
- restarted: a new daemon on the same store: directive lists and file
         hashes read back from disk, nothing else remembered;
- warm:  the same scanner with its caches filled by an earlier pass, as in
         a running daemon;
- first build: that earlier pass, all TUs in order from empty caches
         (what a first build pays per TU on average).

Each TU is checked against gcc -M as it goes (no missing header allowed).
Prints medians per TU and the ratios; the last line is JSON:
{"warm_ms": ..., "cold_ms": ..., "gcc_M_ms": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))
sys.path.insert(0, str(HERE.parent.parent))

from debian_sources import copy_of, libuv_compiles  # noqa: E402

from ggcc.dependency_scan import headers, scan_config  # noqa: E402
from ggcc.dependency_scan.scan_cache import ScanCache  # noqa: E402
from ggcc.dependency_scan.scanner import Config  # noqa: E402
from ggcc.hash_cache import HashCache  # noqa: E402
from ggcc.launcher.args import Compile  # noqa: E402


def gcc_m(compiler: str, comp: Compile, cwd: str, env: dict[str, str]) -> tuple[float, set[str]]:
    t = time.perf_counter()
    s = headers.compiler_scan(compiler, comp, cwd, env)
    dt = time.perf_counter() - t
    return dt, {os.path.normpath(os.path.join(cwd, f)) for f in s.files}


def own(compiler: str, comp: Compile, cwd: str, env: dict[str, str], cache: ScanCache) -> tuple[float, set[str]]:
    t = time.perf_counter()
    s = headers.own_scan(compiler, comp, cwd, env, cache)
    dt = time.perf_counter() - t
    return dt, {os.path.normpath(os.path.join(cwd, f)) for f in s.files}


def fresh(config: object) -> object:
    """The flag set's compiler answers without anything scans remembered."""
    assert isinstance(config, Config)
    return replace(config, memo={}, resolved={}, summaries={})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="only the first N translation units")
    ap.add_argument("--rounds", type=int, default=3, help="passes over all TUs for each method")
    a = ap.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as d:
        tree = copy_of("libuv1", Path(d))
        tus = libuv_compiles(tree)
        if a.limit:
            tus = tus[:a.limit]
        # The per-flag-set configuration, shared by both scanner runs.
        configs = ScanCache(None, HashCache(None))
        t = time.perf_counter()
        for compiler, comp, cwd in tus:
            scan_config.config_for(compiler, comp, cwd, env, configs)
        config_s = time.perf_counter() - t
        flag_sets = len(configs.configs)

        warm_cache = ScanCache(os.path.join(d, "store"), HashCache(os.path.join(d, "store")))
        warm_cache.configs.update({k: fresh(c) for k, c in configs.configs.items()})
        first_build: list[float] = []  # caches empty at the start, filling TU by TU
        for compiler, comp, cwd in tus:
            first_build.append(own(compiler, comp, cwd, env, warm_cache)[0])

        times: dict[str, list[float]] = {"gcc_M": [], "cold": [], "restarted": [], "warm": []}
        extra = total = 0
        for _ in range(a.rounds):
            for compiler, comp, cwd in tus:
                t_ref, ref = gcc_m(compiler, comp, cwd, env)
                cold_cache = ScanCache(None, HashCache(None))
                cold_cache.configs.update({k: fresh(c) for k, c in configs.configs.items()})
                t_cold, mine_cold = own(compiler, comp, cwd, env, cold_cache)
                t_warm, mine_warm = own(compiler, comp, cwd, env, warm_cache)
                # A restarted daemon: nothing in memory, the store's directive lists and hashes on disk.
                restarted = ScanCache(os.path.join(d, "store"), HashCache(os.path.join(d, "store")))
                restarted.configs.update({k: fresh(c) for k, c in configs.configs.items()})
                t_restarted, mine_restarted = own(compiler, comp, cwd, env, restarted)
                for mine in (mine_cold, mine_warm, mine_restarted):
                    missing = ref - mine
                    if missing:
                        print(f"MISSING in {comp.source}: {sorted(missing)[:5]}", file=sys.stderr)
                        return 1
                extra += len(mine_warm - ref)
                total += len(ref)
                times["gcc_M"].append(t_ref)
                times["cold"].append(t_cold)
                times["warm"].append(t_warm)
                times["restarted"].append(t_restarted)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"translation units   {len(tus)} x {a.rounds} rounds, {flag_sets} flag sets "
          f"(their compiler runs: {config_s * 1000:.0f} ms in all, once per build)")
    print(f"headers per TU      {total / max(1, len(times['gcc_M'])):.0f}; "
          f"extra files found by ggcc: {100.0 * extra / max(1, total):.2f}%; missing: 0")
    print(f"gcc -M              {med['gcc_M']:.2f} ms per TU (median)")
    print(f"ggcc cold caches    {med['cold']:.2f} ms  ({med['gcc_M'] / med['cold']:.1f}x faster than gcc -M)")
    print(f"ggcc after restart  {med['restarted']:.2f} ms  ({med['gcc_M'] / med['restarted']:.1f}x faster than gcc -M; "
          f"directive lists and hashes from disk, nothing in memory)")
    print(f"ggcc warm caches    {med['warm']:.2f} ms  ({med['gcc_M'] / med['warm']:.1f}x faster than gcc -M)")
    mean_first = sum(first_build) / len(first_build) * 1000
    print(f"ggcc first build    {mean_first:.2f} ms mean per TU, caches empty at the start "
          f"({med['gcc_M'] / mean_first:.1f}x faster than gcc -M)")
    print(json.dumps({"warm_ms": round(med["warm"], 3), "cold_ms": round(med["cold"], 3),
                      "gcc_M_ms": round(med["gcc_M"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
