"""`./run-demo`'s main job: a real C project built through ggcc, as a user
would build it, and what ggcc did.

    ./run-demo [PATH] [--json FILE]

PATH: a CMake, autotools or Make project (default: examples/project, a
CMake project of 26 sources built as a static and a shared library, a tool
and a test program). It is copied to $TMPDIR/ggcc-demo-UID (the same path
every run, so that a second run finds the first's work in the cache), so
your tree is left alone. Then: a plain build (the compiler alone) for reference;
configure and a first build through ggcc; a clean; the rebuild, answered
from ggcc's cache; the outputs compared with the plain build's, byte for
byte. The local engine and the local store (GGCC_DIR): no AWS, nothing
leaves the machine. The report's counts are `ggcc stats --json` around
each build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GGCC = str(Path(sys.executable).parent / "ggcc")


def run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> float:
    """Run one step quietly; its seconds. Its output is shown if it fails."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout.decode(errors="replace")[-4000:])
        raise SystemExit(f"run-demo: {what} failed (exit {p.returncode}): {' '.join(cmd)}")
    return took


def stats(env: dict[str, str]) -> dict[str, int]:
    p = subprocess.run([GGCC, "stats", "--json"], env=env, capture_output=True, text=True, check=True)
    s = json.loads(p.stdout)
    return {"steps": s["invocations"], "hits": s["cache_hits"], "run": s["executed"],
            "without_ggcc": sum(s["local_fallbacks"].values())}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


class Project:
    """How to configure, build and clean one kind of project."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        # A project with both (zlib, curl) is built by its configure: the usual way on Unix.
        self.cmake = (tree / "CMakeLists.txt").exists() and not (tree / "configure").exists()
        self.generator = ["-G", "Ninja"] if self.cmake and shutil.which("ninja") else []
        if not self.cmake and not (tree / "configure").exists() and not (tree / "Makefile").exists():
            raise SystemExit(f"run-demo: {tree}: no CMakeLists.txt, configure or Makefile: name a C or C++ project")

    @property
    def build_dir(self) -> Path:
        return self.tree / "build" if self.cmake else self.tree

    def configure(self, through_ggcc: bool) -> list[str]:
        if self.cmake:
            cmake = [GGCC, "cmake"] if through_ggcc else ["cmake"]
            return [*cmake, *self.generator, "-S", ".", "-B", "build"]
        if (self.tree / "configure").exists():
            # In the environment: autoconf's take CC=... arguments too, hand-written ones (zlib's) only this.
            cc = [f"CC={GGCC} gcc", f"CXX={GGCC} g++", f"AR={GGCC} ar", f"RANLIB={GGCC} ranlib"] if through_ggcc else []
            return ["env", *cc, "./configure"]
        return []

    def build(self, through_ggcc: bool) -> list[str]:
        tool = "ninja" if self.generator else "make"
        if through_ggcc:
            cc = [] if self.cmake or (self.tree / "configure").exists() else [f"CC={GGCC} gcc", f"CXX={GGCC} g++"]
            return [GGCC, tool, "-C", str(self.build_dir), *cc]
        return [tool, "-C", str(self.build_dir), f"-j{(os.cpu_count() or 1) + 2}"] if tool == "make" else \
            [tool, "-C", str(self.build_dir)]

    def clean(self) -> list[str]:
        return ["ninja", "-C", str(self.build_dir), "-t", "clean"] if self.generator else \
            ["make", "-C", str(self.build_dir), "clean"]


def outputs(tree: Path) -> dict[str, bytes]:
    """What a build made that a compiler or linker writes: objects,
    archives, shared libraries, executables (ELF files and ar archives)."""
    found = {}
    for p in tree.rglob("*"):
        if p.is_file() and not p.is_symlink() and "CMakeFiles/CMakeScratch" not in str(p):
            with open(p, "rb") as f:
                head = f.read(8)
            if head[:4] == b"\x7fELF" or head == b"!<arch>\n":
                found[str(p.relative_to(tree))] = p.read_bytes()
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("project", nargs="?", default=str(HERE / "project"))
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    a = ap.parse_args()
    source = Path(a.project).resolve()
    if not source.is_dir():
        raise SystemExit(f"run-demo: {a.project}: not a directory: name a project's source directory")
    env = dict(os.environ)
    ggcc_dir = subprocess.run([GGCC, "config", "GGCC_DIR"], env=env, capture_output=True, text=True).stdout.strip()
    print(f"run-demo: building {source} plainly, then through ggcc (local engine, cache in {ggcc_dir})")
    # Both builds at one path, one after the other (debug info records it),
    # and the same path every run, so that a second run finds the first's work.
    work = Path(tempfile.gettempdir(), f"ggcc-demo-{os.getuid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        tree = work / source.name
        ignore = shutil.ignore_patterns(".git", "build")
        shutil.copytree(source, tree, symlinks=True, ignore=ignore)
        plain = Project(tree)
        if plain.configure(False):
            run(plain.configure(False), tree, env, "the plain configure")
        plain_s = run(plain.build(False), tree, env, "the plain build")
        want = outputs(tree)
        shutil.rmtree(tree)

        shutil.copytree(source, tree, symlinks=True, ignore=ignore)
        ours = Project(tree)
        s0 = stats(env)
        configure_s = run(ours.configure(True), tree, env, "configure through ggcc") if ours.configure(True) else 0.0
        s1 = stats(env)
        first_s = run(ours.build(True), tree, env, "the first build through ggcc")
        s2 = stats(env)
        run(ours.clean(), tree, env, "the clean")
        again_s = run(ours.build(True), tree, env, "the rebuild through ggcc")
        s3 = stats(env)
        got = outputs(tree)
        same = sum(1 for k in want if got.get(k) == want[k])
        tests = ""
        if (tree / "build" / "kit_test").exists():
            p = subprocess.run([str(tree / "build" / "kit_test")], capture_output=True, text=True)
            tests = "passed" if p.returncode == 0 else f"FAILED ({p.stderr.strip()})"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report = {
        "project": str(source), "ggcc_dir": ggcc_dir, "plain_build_s": round(plain_s, 2),
        "configure": {"s": round(configure_s, 2), **delta(s1, s0)},
        "first_build": {"s": round(first_s, 2), **delta(s2, s1)},
        "rebuild": {"s": round(again_s, 2), **delta(s3, s2)},
        "outputs": len(want), "identical_to_plain": same, "tests": tests,
    }
    print(render(report))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if same == len(want) and not tests.startswith("FAILED") else 1


def render(r: dict[str, object]) -> str:
    def line(name: str, key: str) -> str:
        b = r[key]
        assert isinstance(b, dict)
        return (f"  {name:<22} {b['s']:6.2f} s   {b['steps']:4d} steps: {b['hits']} from the cache, {b['run']} run, "
                f"{b['without_ggcc']} without ggcc")

    lines = [
        "",
        f"  plain build            {r['plain_build_s']:6.2f} s   (the compiler alone, for reference)",
        line("configure (ggcc)", "configure"),
        line("first build (ggcc)", "first_build"),
        line("rebuild after a clean", "rebuild"),
        "",
        f"  {r['identical_to_plain']} of {r['outputs']} objects, libraries and programs byte-identical to the plain "
        "build's" + (f"; the project's tests {r['tests']}" if r["tests"] else ""),
        f"  the cache: {r['ggcc_dir']} (`ggcc cache stats`; size limit: GGCC_MAX_SIZE)",
        "",
        "  next: in your own project, `ggcc cmake -G Ninja -S . -B build && ggcc ninja -C build`, or",
        "  `./configure CC=\"ggcc gcc\" && ggcc make`; then `ggcc stats`, and `ggcc doctor` if anything looks off.",
        "  ./run-demo again: its first build comes from the cache too. ./run-demo PATH builds your project.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
