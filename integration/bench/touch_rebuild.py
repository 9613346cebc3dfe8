"""Editor-triggered rebuilds: edit one libuv source, rebuild; plain vs ccache vs ggcc.

    python integration/bench/touch_rebuild.py [--edits 15] [--file src/unix/core.c] [--delay-ms 0]

libuv with its tests is configured five times (CMake + Ninja), each in
its own copy of the source tree: plain; with ccache as compiler launcher;
with ggcc as compiler and linker launcher (as `ggcc cmake` sets it up:
the native client);
the same with compiling on save turned off (GGCC_SPECULATE=0, "ggcc_nosave");
and with ggcc as compiler launcher only ("ggcc_cc", as ccache is set up:
links run without ggcc). Wait mode, local engine, the daemon warm. Each is
built once.
Then, --edits times: a new function is appended to --file in each tree
(as an editor save would: new content, so every tool really compiles it),
and that tree's build runs `ninja` at once, timed from the save to the end
of the build: the compiles of the source (shared and static library),
then the links after them (libuv.so and the test runner; the static
library and its runner). Builds take turns, and the order rotates each
round. Each tree is its own copy because the daemon compiles a saved
source it knows at once: an edit in a shared tree would start ggcc's
compiles while another build is being timed.
--delay-ms N starts each build N ms after the save, as an editor's
build-on-save or a person would, and times from the build's start: the
daemon has had N ms to compile on save. Prints medians and ggcc - plain (goal: <= +50 ms),
also as the median of each round's own difference; JSON last. Use the Python of a plain install, as for launcher_hit.py.
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=15)
    ap.add_argument("--file", default="src/unix/core.c")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    a = ap.parse_args()
    ggcc = shutil.which("ggcc") or str(Path(sys.executable).parent / "ggcc")
    from ggcc.commands.cmake import launcher

    cc = launcher()  # exactly as `ggcc cmake` sets it: the native client, where built
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, GGCC_DIR=os.path.join(d, "ggcc"), CCACHE_DIR=os.path.join(d, "ccache"))
        launchers = {
            "plain": [],
            "ccache": ["-DCMAKE_C_COMPILER_LAUNCHER=ccache"],
            "ggcc": [f"-DCMAKE_C_COMPILER_LAUNCHER={cc}", f"-DCMAKE_C_LINKER_LAUNCHER={cc}"],
            "ggcc_nosave": [f"-DCMAKE_C_COMPILER_LAUNCHER={cc}", f"-DCMAKE_C_LINKER_LAUNCHER={cc}"],
            # As ccache is set up: the links run as they would without ggcc.
            "ggcc_cc": [f"-DCMAKE_C_COMPILER_LAUNCHER={cc}"],
        }
        builds = {}
        envs = {n: dict(env, GGCC_SPECULATE="0") if n == "ggcc_nosave" else env for n in launchers}
        subprocess.run([ggcc, "daemon", "start"], env=env, check=True, capture_output=True)
        try:
            for name, flags in launchers.items():
                tree = copy_of("libuv1", Path(d) / name)
                build = tree / "build"
                build.mkdir()
                subprocess.run(["cmake", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DLIBUV_BUILD_TESTS=ON",
                                *flags, ".."], cwd=build, env=envs[name], check=True, capture_output=True)
                subprocess.run(["ninja"], cwd=build, env=envs[name], check=True, capture_output=True)
                builds[name] = build
            times: dict[str, list[float]] = {n: [] for n in builds}
            steps: dict[str, int] = {}
            names = list(builds)
            for i in range(a.edits):
                order = names[i % len(names):] + names[:i % len(names)]
                for name in order:
                    # The edit itself, for each build: each must see new content.
                    with open(builds[name].parent / a.file, "a") as f:
                        f.write(f"\nint ggcc_bench_edit_{i}(void) {{ return {i}; }}\n")
                        t = time.perf_counter()  # the save is the close, just after this
                    if a.delay_ms:
                        time.sleep(a.delay_ms / 1000)
                        t = time.perf_counter()
                    p = subprocess.run(["ninja"], cwd=builds[name], env=envs[name], check=True, capture_output=True,
                                       text=True)
                    times[name].append(time.perf_counter() - t)
                    steps[name] = sum(1 for line in p.stdout.splitlines() if line.startswith("["))
        finally:
            subprocess.run([ggcc, "daemon", "stop"], env=env, capture_output=True)
        med = {n: statistics.median(v) for n, v in times.items()}
        for n in names:
            print(f"{n:>7}: median {med[n] * 1000:7.1f} ms over {a.edits} edits ({steps[n]} build steps each); "
                  f"runs {', '.join(f'{x * 1000:.0f}' for x in times[n])} ms")
        # This machine's timing drifts by more than the goal from one minute
        # to the next: the median of each round's own difference (the
        # builds of a round run back to back) is the steadier figure.
        paired = {n: statistics.median(x - p for x, p in zip(times[n], times["plain"])) * 1000 for n in names[1:]}
        for n in names[1:]:
            goal = " (goal <= +50 ms)" if n.startswith("ggcc") else ""
            print(f"{n} - plain: {(med[n] - med['plain']) * 1000:+.1f} ms, paired by round {paired[n]:+.1f} ms{goal}")
        if a.delay_ms:
            print(f"(each build started {a.delay_ms:.0f} ms after its save, and was timed from its start)")
        print(json.dumps({f"{n}_ms": round(v * 1000, 1) for n, v in med.items()}
                         | {f"{n}_minus_plain_paired_ms": round(paired[n], 1) for n in names[1:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
