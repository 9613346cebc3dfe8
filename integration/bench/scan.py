"""Header scan time per libuv translation unit: ggcc's scanner vs `gcc -M`.

    python integration/bench/scan.py [--limit N] [--rounds 3]

For every compile of libuv (with its tests, from CMake's compile commands),
in one run:

- gcc_M: the compiler's own `-M`, as ggcc runs it when it cannot scan;
- cold:  a first build's scans: every cache empty at the start (in memory
         and on disk: no directive lists, no file hashes, no directory
         listings, no remembered #if values, lookups or header summaries),
         then all TUs in build order, the caches filling as they go, as
         they do in a daemon's first build (and as "cold" means for
         ccache's and libuv_build.py's figures). The per-flag-set compiler
         run (-dM -v) is done once beforehand and reported on its own,
         since a build pays it once per flag set;
- uncached: every cache emptied again before each TU: the scanner's
         worst case, a TU that shares nothing with anything scanned before;
- restarted: a new daemon on the same store: directive lists and file
         hashes read back from disk, nothing else remembered;
- warm:  the same scanner with its caches filled by the first build, as in
         a running daemon.

Each TU is checked against gcc -M (no missing header allowed), in the
first build too. Prints medians per TU and the ratios; the last line is
JSON: {"warm_ms": ..., "cold_ms": ..., "gcc_M_ms": ..., "uncached_ms": ...,
"cold_mean_ms": ...}.
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
from ggcc.formats.compile import Compile  # noqa: E402
from ggcc.storage.hash_cache import HashCache  # noqa: E402


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
        first_files: list[set[str]] = []
        for compiler, comp, cwd in tus:
            t_first, mine_first = own(compiler, comp, cwd, env, warm_cache)
            first_build.append(t_first)
            first_files.append(mine_first)

        times: dict[str, list[float]] = {"gcc_M": [], "uncached": [], "restarted": [], "warm": []}
        extra = total = 0
        for round_ in range(a.rounds):
            for k, (compiler, comp, cwd) in enumerate(tus):
                t_ref, ref = gcc_m(compiler, comp, cwd, env)
                if round_ == 0 and ref - first_files[k]:
                    print(f"MISSING in {comp.source} (first build): {sorted(ref - first_files[k])[:5]}", file=sys.stderr)
                    return 1
                uncached_cache = ScanCache(None, HashCache(None))
                uncached_cache.configs.update({k: fresh(c) for k, c in configs.configs.items()})
                t_uncached, mine_uncached = own(compiler, comp, cwd, env, uncached_cache)
                t_warm, mine_warm = own(compiler, comp, cwd, env, warm_cache)
                # A restarted daemon: nothing in memory, the store's directive lists and hashes on disk.
                restarted = ScanCache(os.path.join(d, "store"), HashCache(os.path.join(d, "store")))
                restarted.configs.update({k: fresh(c) for k, c in configs.configs.items()})
                t_restarted, mine_restarted = own(compiler, comp, cwd, env, restarted)
                for mine in (mine_uncached, mine_warm, mine_restarted):
                    missing = ref - mine
                    if missing:
                        print(f"MISSING in {comp.source}: {sorted(missing)[:5]}", file=sys.stderr)
                        return 1
                extra += len(mine_warm - ref)
                total += len(ref)
                times["gcc_M"].append(t_ref)
                times["uncached"].append(t_uncached)
                times["warm"].append(t_warm)
                times["restarted"].append(t_restarted)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    med["cold"] = statistics.median(first_build) * 1000
    mean_first = sum(first_build) / len(first_build) * 1000
    print(f"translation units   {len(tus)} x {a.rounds} rounds, {flag_sets} flag sets "
          f"(their compiler runs: {config_s * 1000:.0f} ms in all, once per build)")
    print(f"headers per TU      {total / max(1, len(times['gcc_M'])):.0f}; "
          f"extra files found by ggcc: {100.0 * extra / max(1, total):.2f}%; missing: 0")
    print(f"gcc -M              {med['gcc_M']:.2f} ms per TU (median)")
    print(f"ggcc cold caches    {med['cold']:.2f} ms  ({med['gcc_M'] / med['cold']:.1f}x faster than gcc -M; "
          f"a first build from empty caches; its mean {mean_first:.2f} ms, {med['gcc_M'] / mean_first:.1f}x; "
          f"issue 8's goal: >= 2x)")
    print(f"ggcc warm caches    {med['warm']:.2f} ms  ({med['gcc_M'] / med['warm']:.1f}x faster than gcc -M; "
          f"issue 8's goal: >= 10x)")
    print(f"ggcc after restart  {med['restarted']:.2f} ms  ({med['gcc_M'] / med['restarted']:.1f}x faster than gcc -M; "
          f"directive lists and hashes from disk, nothing in memory)")
    print(f"ggcc uncached       {med['uncached']:.2f} ms  ({med['gcc_M'] / med['uncached']:.2f}x gcc -M's speed; "
          f"every cache emptied before each TU: nothing shared with earlier scans)")
    print(json.dumps({"warm_ms": round(med["warm"], 3), "cold_ms": round(med["cold"], 3),
                      "gcc_M_ms": round(med["gcc_M"], 3), "uncached_ms": round(med["uncached"], 3),
                      "cold_mean_ms": round(mean_first, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
