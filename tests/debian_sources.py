"""Real projects for tests: Debian source packages fetched at test time.

`apt-get source` needs a deb-src entry; one is added (root only) when
missing. Unpacked trees are cached under $GGCC_TEST_CACHE (default
~/.cache/ggcc-test-sources) and copied for each use, so tests never edit
the cache and a second run does not download again.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from ggcc.formats.compile import Compile
from ggcc.launcher.args import parse

CACHE = Path(os.environ.get("GGCC_TEST_CACHE", Path.home() / ".cache" / "ggcc-test-sources"))


def _ensure_deb_src() -> None:
    texts = []
    for p in ["/etc/apt/sources.list", *glob.glob("/etc/apt/sources.list.d/*.sources"), *glob.glob("/etc/apt/sources.list.d/*.list")]:
        try:
            texts.append(Path(p).read_text())
        except OSError:
            pass
    if any("deb-src" in t for t in texts):
        return
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if os.geteuid() != 0:
        raise RuntimeError("no deb-src entry in APT sources and not root: add one to fetch Debian sources")
    if deb822.exists():
        deb822.write_text(deb822.read_text().replace("Types: deb\n", "Types: deb deb-src\n"))
    else:
        lines = [l.replace("deb ", "deb-src ", 1) for l in Path("/etc/apt/sources.list").read_text().splitlines() if l.startswith("deb ")]
        Path("/etc/apt/sources.list.d/ggcc-deb-src.list").write_text("\n".join(lines) + "\n")
    subprocess.run(["apt-get", "update", "-qq"], check=True)


def fetch(package: str) -> Path:
    """The unpacked source tree of a Debian source package (cached; test
    processes running at once, as under pytest-xdist, fetch it once)."""
    dest = CACHE / package
    done = dest / ".complete"
    if not done.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with FileLock(str(CACHE / ".fetch.lock")):  # one apt at a time: apt-get update and source lock apt's lists
            if not done.exists():
                _ensure_deb_src()
                if dest.exists():
                    shutil.rmtree(dest)
                dest.mkdir(parents=True)
                version = _download(package, dest)
                done.write_text(version + "\n")
    trees = [p for p in dest.iterdir() if p.is_dir()]
    if len(trees) != 1:
        raise RuntimeError(f"apt-get source {package}: expected one tree in {dest}, got {trees}")
    return trees[0]


def source_versions(package: str) -> list[str]:
    """Every version of a source package that APT's lists name, newest
    first (dpkg's ordering)."""
    import functools

    text = subprocess.run(["apt-cache", "showsrc", package], check=True, capture_output=True, text=True).stdout
    versions = sorted({line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Version:")})

    def cmp(a: str, b: str) -> int:
        if a == b:
            return 0
        newer = subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0
        return -1 if newer else 1

    return sorted(versions, key=functools.cmp_to_key(cmp))


def _download(package: str, dest: Path) -> str:
    """`apt-get source` of the newest version that downloads, into dest;
    that version. A mirror may list a version it does not serve (the
    security suite's newest one, seen on a new machine): the next is tried."""
    versions = source_versions(package)
    if not versions:
        raise RuntimeError(f"apt-cache showsrc {package}: no version listed; is there a deb-src entry?")
    errors = []
    for v in versions:
        p = subprocess.run(["apt-get", "source", "-qq", f"{package}={v}"], cwd=dest, capture_output=True, text=True)
        if p.returncode == 0:
            if v != versions[0]:
                sys.stderr.write(f"debian_sources: {package} {versions[0]} did not download; using {v}\n")
            return v
        errors.append(f"{v}: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
        for left in dest.iterdir():  # a partial download of this version
            shutil.rmtree(left) if left.is_dir() else left.unlink()
    raise RuntimeError(f"apt-get source {package}: no listed version downloads ({'; '.join(errors)})")


def fetched_versions() -> dict[str, str]:
    """The packages in the cache and the version each came from."""
    out = {}
    if CACHE.is_dir():
        for done in sorted(CACHE.glob("*/.complete")):
            out[done.parent.name] = done.read_text().strip()
    return out


def copy_of(package: str, where: Path) -> Path:
    src = fetch(package)
    dest = where / src.name
    shutil.copytree(src, dest, symlinks=True)
    return dest


def zlib_commands(tree: Path, opt: str, compiler: str = "gcc") -> list[tuple[list[str], str]]:
    """zlib's own compile commands (./configure, then make -n), with -g."""
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    lines = subprocess.run(["make", "-n", "libz.a"], cwd=tree, check=True, capture_output=True, text=True).stdout
    cmds = []
    for line in lines.splitlines():
        argv = shlex.split(line)
        if argv and argv[0] in ("gcc", "cc") and "-c" in argv:
            argv = [compiler] + [opt if a.startswith("-O") else a for a in argv[1:]] + ["-g"]
            cmds.append((argv, str(tree)))
    assert len(cmds) >= 15
    return cmds


ZLIB_OUTPUTS = ("*.o", "*.lo", "*.a", "libz.so*", "example", "minigzip", "examplesh", "minigzipsh")


def zlib_plain_and_ours(where: Path) -> tuple[Path, Path]:
    """Two configured copies of zlib; the first built plainly (make -j2)."""
    plain = copy_of("zlib", where / "plain")
    ours = copy_of("zlib", where / "ours")
    for tree in (plain, ours):
        subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    subprocess.run(["make", "-j2"], cwd=plain, check=True, capture_output=True)
    return plain, ours


def zlib_outputs(tree: Path) -> dict[str, bytes]:
    """zlib's objects, archives, shared libraries and executables by name."""
    return {str(p.relative_to(tree)): p.read_bytes() for pat in ZLIB_OUTPUTS for p in tree.glob(pat) if p.is_file()}


def build_outputs(build: Path) -> dict[str, bytes]:
    """A CMake build tree's objects, archives, libraries and executables
    (CMake's own probes left out), by path."""
    out = {}
    for p in build.rglob("*"):
        if p.is_file() and not p.is_symlink() and (p.suffix in (".o", ".a") or ".so" in p.name or os.access(p, os.X_OK)):
            if "CMakeFiles/3." in str(p) or p.name.startswith("CMake"):
                continue
            out[str(p.relative_to(build))] = p.read_bytes()
    return out


def libuv_compiles(tree: Path) -> list[tuple[str, Compile, str]]:
    """libuv's compile commands (with its tests) from CMake, parsed:
    (compiler, the compile, working directory)."""
    build = tree / "build"
    build.mkdir()
    subprocess.run(["cmake", "-G", "Ninja", "-DLIBUV_BUILD_TESTS=ON", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", ".."],
                   cwd=build, check=True, capture_output=True)
    out = []
    for e in json.loads((build / "compile_commands.json").read_text()):
        argv = shlex.split(e["command"])
        comp = parse(argv[1:])
        assert isinstance(comp, Compile), e["command"]
        out.append((argv[0], comp, str(e["directory"])))
    return out


def configure_libuv(build: Path, flags: list[str], env: dict[str, str] | None = None) -> None:
    """A fresh ``build`` directory configured for libuv with its tests (CMake
    + Ninja, RelWithDebInfo). Plain and ggcc builds use the same path:
    debug info and RUNPATHs record it."""
    if build.exists():
        shutil.rmtree(build)
    build.mkdir()
    subprocess.run(["cmake", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DLIBUV_BUILD_TESTS=ON", *flags, ".."],
                   cwd=build, check=True, capture_output=True, env=env)
