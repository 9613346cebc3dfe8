"""Hashing a 100 MB file: ggcc's hash_file vs sha256sum, in one run.

    python integration/bench/hash.py [--size-mb 100] [--runs 7]

Prints medians and the ratio (goal: ggcc >= 0.9x sha256sum's speed).
The file is read once first so both measure hashing from the page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

from ggcc.formats import ids


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "data")
        with open(path, "wb") as f:
            for _ in range(a.size_mb):
                f.write(os.urandom(1 << 20))
        ids.hash_file(path)  # warm the page cache
        ggcc_t, sum_t = [], []
        for _ in range(a.runs):
            t = time.perf_counter()
            ours = ids.hash_file(path)
            ggcc_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = subprocess.run(["sha256sum", path], capture_output=True, text=True, check=True).stdout
            sum_t.append(time.perf_counter() - t)
            assert ours[1:65] == out.split()[0], "hash mismatch with sha256sum"
    g, s = statistics.median(ggcc_t), statistics.median(sum_t)
    print(f"hash {a.size_mb} MB, median of {a.runs}")
    print(f"  ggcc       {g * 1e3:8.1f} ms  {a.size_mb / g:7.0f} MB/s")
    print(f"  sha256sum  {s * 1e3:8.1f} ms  {a.size_mb / s:7.0f} MB/s")
    print(f"  speed ratio ggcc/sha256sum: {s / g:.2f}x (goal >= 0.9x)")
    print(json.dumps({"ggcc_ms": round(g * 1e3, 1), "sha256sum_ms": round(s * 1e3, 1), "ratio": round(s / g, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
