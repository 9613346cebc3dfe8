"""A project's configure step, plain and through ggcc (and ccache, sccache
when installed), in turn, in one run: what the launcher costs the probes.

    python integration/bench/configure.py [PACKAGE...] [--runs 5] [--ggcc PATH]

PACKAGE: Debian source packages (default: zlib, whose configure is
hand-written and rewrites one probe file, and jq, autoconf and libtool;
ffmpeg is a large hand-written one, hundreds of probes).
Each configure runs in a fresh copy of the tree, `./configure` with
CC="LAUNCHER gcc" (autoreconf first where the package has no configure);
ggcc with an empty GGCC_DIR each run (a daemon started by the first
probe, as on a new machine) and with a warm one. Prints the median,
min..max and the ratio to plain's median for each, then a JSON line.
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

# Arguments of a package's configure ({cc}: the compiler command; ffmpeg's takes --cc, not $CC).
CONFIGURE_ARGS = {"jq": ["--without-oniguruma", "--disable-docs", "--disable-maintainer-mode"],
                  "ffmpeg": ["--cc={cc}", "--disable-x86asm", "--disable-doc"]}


def configure(tree: Path, cc: str, env: dict[str, str], args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(["./configure", *(a.format(cc=cc) for a in args)], cwd=tree, env=dict(env, CC=cc), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("packages", nargs="*", default=["zlib", "jq"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ggcc", default=str(Path(sys.executable).parent / "ggcc"), help="the ggcc command")
    a = ap.parse_args()
    report = {}
    with tempfile.TemporaryDirectory(prefix="ggcc-bench-configure-") as tmp:
        for package in a.packages:
            base = copy_of(package, Path(tmp) / package)
            if not (base / "configure").exists():
                subprocess.run(["autoreconf", "-fi"], cwd=base, check=True, capture_output=True)
            args = CONFIGURE_ARGS.get(package, [])
            warm = os.path.join(tmp, "warm")
            ways = {"plain": "gcc", "ggcc (empty store)": f"{a.ggcc} gcc", "ggcc (warm daemon)": f"{a.ggcc} gcc"}
            for tool in ("ccache", "sccache"):
                if shutil.which(tool):
                    ways[tool] = f"{tool} gcc"
            times: dict[str, list[float]] = {w: [] for w in ways}
            for run in range(a.runs):
                for way, cc in ways.items():
                    tree = Path(tmp) / f"{package}-{run}-{len(times[way])}-{abs(hash(way))}"
                    shutil.copytree(base, tree, symlinks=True)
                    env = dict(os.environ, GGCC_DIR=warm if "warm" in way else os.path.join(tmp, f"cold-{run}"),
                               CCACHE_DIR=os.path.join(tmp, "ccache"), SCCACHE_DIR=os.path.join(tmp, "sccache"))
                    times[way].append(configure(tree, cc, env, args))
                    shutil.rmtree(tree)
                subprocess.run([a.ggcc, "daemon", "stop"], env=dict(os.environ, GGCC_DIR=os.path.join(tmp, f"cold-{run}")),
                               capture_output=True)
            subprocess.run([a.ggcc, "daemon", "stop"], env=dict(os.environ, GGCC_DIR=warm), capture_output=True)
            plain = statistics.median(times["plain"])
            print(f"== {package} configure, {a.runs} runs each, in turn")
            for way, ts in times.items():
                m = statistics.median(ts)
                print(f"  {way:<20} {m:6.2f} s  ({min(ts):.2f}..{max(ts):.2f})  {m / plain:.2f}x plain")
            report[package] = {w: sorted(ts) for w, ts in times.items()}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
