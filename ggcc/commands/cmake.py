"""`ggcc cmake ARGS`: cmake with ggcc as compiler and linker launcher.

The launchers are set as cache variables on the command line. CMake does
not pass those to try_compile projects, so its probes (compiler checks,
feature tests) run the real compiler directly, as they should: they are
throwaway builds whose outputs nobody reuses. A launcher the user set
already (-DCMAKE_C_COMPILER_LAUNCHER=...) is kept. Linker launchers need
CMake 3.21; with an older cmake only the compiler launchers are set.

For people who run cmake themselves: `--print-init-cache` prints a script
for `cmake -C FILE` and `--print-preset` a CMakePresets.json fragment;
both set the same cache variables, so probes stay local there too. (A
toolchain file would not: CMake reads it again for every try_compile.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from ggcc.base.errors import GgccError
from ggcc.client import native

LANGS = ("C", "CXX")
LINKER_LAUNCHER_SINCE = (3, 21)


def launcher() -> str:
    """The command CMake should put before each compile: this ggcc, as a
    CMake list (`;` separates words)."""
    here = native.started_from()
    me = os.path.join(os.path.abspath(here), "ggcc") if here else ""
    if me and os.access(me, os.X_OK):
        return _without_sh(me)
    # The script installed beside this interpreter (a venv's bin/), then PATH.
    # Not realpath: a venv's python is a symlink, and resolving it loses the venv.
    beside = os.path.join(os.path.dirname(sys.executable), "ggcc")
    if os.access(beside, os.X_OK):
        return _without_sh(beside)
    found = shutil.which("ggcc")
    if found:
        return _without_sh(os.path.abspath(found))
    return f"{sys.executable};-m;ggcc"


def _without_sh(script: str) -> str:
    """What bin/ggcc would run, started directly: the native client beside
    it (ggcc-client), else its python3 with -I -S, then the script (sh costs
    every compile ~1.7 ms). bin/ggcc may be the client itself (setup.py),
    the script then beside it as ggcc-python. The script itself if it is not
    ours or its python3 cannot be found the way the sh line finds it."""
    try:
        with open(script, "rb") as f:
            head = f.read(64)
    except OSError:
        return script
    if head.startswith(b"\x7fELF"):
        named = [p for d in (os.path.dirname(script), os.path.dirname(os.path.realpath(script)))
                 if os.access(p := os.path.join(d, native.SCRIPT), os.R_OK)]
        if not named:
            return script
        client, script = native.beside(named[0]), named[0]
    elif head.startswith(b"#!/bin/sh\n# ggcc's command"):
        client = native.beside(script)
    else:
        return script
    if client:
        return client
    for d in (os.path.dirname(script), os.path.dirname(os.path.realpath(script))):
        python = os.path.join(d, "python3")
        if os.access(python, os.X_OK):
            return f"{python};-I;-S;{script}"
    return script


def cmake_version(cmake: str = "cmake") -> tuple[int, ...]:
    try:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise GgccError(f"{cmake}: not found; install CMake (Debian: apt-get install cmake)") from None
    except subprocess.CalledProcessError as e:
        raise GgccError(f"{cmake} --version failed: {e.stderr.strip()[:200]}") from None
    words = out.split()
    version = words[2] if len(words) > 2 and words[:2] == ["cmake", "version"] else "0"
    return tuple(int(p) for p in version.split("-")[0].split(".") if p.isdigit())


def cache_variables(version: tuple[int, ...], with_linker: bool = True) -> dict[str, str]:
    """Variable -> value for the launchers this cmake supports; with the
    linker, the archiver too (CMake runs it by a path, with no launcher:
    bin/ggcc-ar and bin/ggcc-ranlib), so archives are cached and `ggcc
    infer` needs no flag of its own."""
    cmd = launcher()
    out = {f"CMAKE_{lang}_COMPILER_LAUNCHER": cmd for lang in LANGS}
    if with_linker and version >= LINKER_LAUNCHER_SINCE:
        out.update({f"CMAKE_{lang}_LINKER_LAUNCHER": cmd for lang in LANGS})
    if with_linker:
        tools = archivers()
        if tools is not None:
            out["CMAKE_AR"], out["CMAKE_RANLIB"] = tools
    return out


def archivers() -> tuple[str, str] | None:
    """bin/ggcc-ar and bin/ggcc-ranlib of this install, if found."""
    here = native.started_from()
    for d in (os.path.abspath(here) if here else "", os.path.dirname(sys.executable)):
        ar, ranlib = os.path.join(d, "ggcc-ar"), os.path.join(d, "ggcc-ranlib")
        if d and os.access(ar, os.X_OK) and os.access(ranlib, os.X_OK):
            return ar, ranlib
    return None


def _user_set(args: list[str]) -> set[str]:
    """The cache variables the user's -DNAME[:TYPE]=VALUE (or -D NAME...) set."""
    specs = [a[2:] or (args[i + 1] if i + 1 < len(args) else "") for i, a in enumerate(args) if a.startswith("-D")]
    return {spec.split("=", 1)[0].split(":", 1)[0] for spec in specs}


def command(args: list[str], version: tuple[int, ...], with_linker: bool = True) -> list[str]:
    """The cmake command line: the launchers first, then the user's words."""
    if "--build" in args[:1] or "--install" in args[:1] or "-E" in args[:1] or "-P" in args[:1]:
        return ["cmake", *args]  # not a configure: nothing to set
    mine = cache_variables(version, with_linker)
    taken = _user_set(args)
    return ["cmake", *(f"-D{k}={v}" for k, v in mine.items() if k not in taken), *args]


def init_cache_script(version: tuple[int, ...], with_linker: bool = True) -> str:
    what = "compile and link" if with_linker else "compile"
    lines = [f"# ggcc: {what} through ggcc. Use: cmake -C THIS_FILE ...",
             "# (cache variables: CMake's try_compile probes do not see them and stay local)"]
    for k, v in cache_variables(version, with_linker).items():
        kind = "FILEPATH" if k in ("CMAKE_AR", "CMAKE_RANLIB") else "STRING"
        lines.append(f'set({k} "{v}" CACHE {kind} "ggcc launcher")')
    return "\n".join(lines) + "\n"


def preset_fragment(version: tuple[int, ...], with_linker: bool = True) -> str:
    preset = {"name": "ggcc", "hidden": True, "cacheVariables": cache_variables(version, with_linker)}
    return json.dumps({"configurePresets": [preset]}, indent=2) + "\n"


def main(args: list[str]) -> int:
    """``--compile-only`` first: compiler launchers only, links run as
    without ggcc (after an edit, each link through ggcc adds a launcher,
    14-16 ms of CPU, and 12-35 ms of hashing, sandbox and copying to the
    rebuild; through ggcc, a link is cached, and runs where the engine
    runs)."""
    with_linker = args[:1] != ["--compile-only"]
    if not with_linker:
        args = args[1:]
    version = cmake_version()
    if args[:1] == ["--print-init-cache"]:
        sys.stdout.write(init_cache_script(version, with_linker))
        return 0
    if args[:1] == ["--print-preset"]:
        sys.stdout.write(preset_fragment(version, with_linker))
        return 0
    if with_linker and version < LINKER_LAUNCHER_SINCE:
        sys.stderr.write(f"ggcc cmake: cmake {'.'.join(map(str, version))} has no linker launchers "
                         "(3.21+): links will run without ggcc\n")
    cmd = command(args, version, with_linker)
    return subprocess.run(cmd).returncode
