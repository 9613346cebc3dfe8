"""A compiler's toolchain as thunk inputs: driver, cc1/cc1plus, as, libraries, loader.

Captured once per compiler (keyed by the driver's content hash) and kept as
JSON under ``<store>/toolchains/``; a later use re-checks every file through
the hash cache (a stat each), so an upgraded cc1 is never served stale.

How it runs inside a thunk (see docs/thunk-format.md and
shared notes on relocating gcc): every file sits at its host path under the
sandbox root R; the driver runs through the shipped loader,

    R/lib64/ld-linux-x86-64.so.2 --inhibit-cache --library-path R/lib/... R/usr/bin/gcc
        --sysroot=R -BR/usr/bin/ -wrapper R/lib64/ld...,--inhibit-cache,--library-path,R/lib/...
        -ffile-prefix-map=R= <the user's arguments>

so no program or library comes from the worker's /usr, and none of these
flags reaches the object: --sysroot, -B, -wrapper and prefix maps are not
recorded in DW_AT_producer, and the map turns R/<cwd> back into <cwd>.
Not -pipe: with it, gcc 12 applies -wrapper to cc1 only and starts `as`
directly, through the worker's loader.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from ggcc.base.errors import GgccError
from ggcc.base.fsutil import ParsedFiles, atomic_write_bytes
from ggcc.dependency_scan.program import Runtime, ToolFile, capture_runtime, still_valid, tree_path
from ggcc.formats.thunk import ROOT_TOKEN
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore

FORMAT = 4


@dataclass(frozen=True)
class Toolchain:
    family: str  # "gcc" or "clang"
    version: str  # first line of --version
    driver_id: str
    driver_tree: str
    loader_tree: str
    library_dirs_tree: tuple[str, ...]
    as_dir_tree: str  # given to -B so the driver finds `as` in the tree
    files: tuple[ToolFile, ...]
    native_flags: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (-march=native..., expansion)
    resource_dir_tree: str = ""  # clang's resource directory
    gcc_prefix: str = ""  # clang: the prefix of the GCC installation it selects, as it spells it

    def command_prefix(self) -> list[str]:
        """The loader, its options and the driver, with the root as a token."""
        return self._runtime().command_prefix(self.driver_tree)

    def _runtime(self) -> Runtime:
        return Runtime(self.files, self.loader_tree, self.library_dirs_tree)

    def relocation_flags(self) -> list[str]:
        loader = f"{ROOT_TOKEN}/{self.loader_tree}"
        if self.family == "clang":
            # clang runs cc1 and the assembler in its own process (no
            # -wrapper needed). Under the loader /proc/self/exe is the
            # loader, so clang must take its location from argv[0]
            # (-no-canonical-prefixes), which is where the user invoked it,
            # as on the host; the resource dir is then given explicitly.
            flags = [
                "-no-canonical-prefixes",
                f"--sysroot={ROOT_TOKEN}",
                f"-resource-dir={ROOT_TOKEN}/{self.resource_dir_tree}",
            ]
            if self.gcc_prefix:
                # With a sysroot, clang would try the sysroot's GCC before
                # the one beside itself; the host chose by the latter's
                # spelling (/usr/bin/../lib/gcc/...), which DWARF records.
                flags.append(f"--gcc-toolchain={ROOT_TOKEN}{self.gcc_prefix}")
            return flags + [f"-ffile-prefix-map={ROOT_TOKEN}="]
        return [
            f"--sysroot={ROOT_TOKEN}",
            f"-B{ROOT_TOKEN}/{self.as_dir_tree}/",
            "-wrapper",
            f"{loader},--inhibit-cache,--library-path,{self._runtime().lib_path()}",
            f"-ffile-prefix-map={ROOT_TOKEN}=",
        ]

    def expansion(self, natives: tuple[str, ...]) -> tuple[str, ...] | None:
        for key, flags in self.native_flags:
            if key == " ".join(natives):
                return flags
        return None


def _run(argv: list[str]) -> str:
    import subprocess

    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=_plain_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GgccError(f"{argv[0]}: cannot run it to inspect the toolchain ({e})") from None
    if p.returncode != 0:
        raise GgccError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()[:200]}")
    return p.stdout + p.stderr


def _plain_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _which(name: str) -> str | None:
    import shutil

    return name if os.path.isabs(name) else shutil.which(name, path=_plain_env()["PATH"])


def capture(driver: str, invoked: str, driver_id: str, store: LocalStore, hashes: HashCache) -> Toolchain:
    """Inspect a compiler driver (its real path; ``invoked`` is the path the
    user ran it by) and store every file it needs."""
    version = _run([driver, "--version"]).splitlines()[0].strip()
    family = "clang" if "clang" in version.lower() else "gcc"
    extra: dict[str, str] = {}  # host path -> tree path, non-program files
    resource_tree = ""
    gcc_prefix = ""
    if family == "clang":
        # Placed where it was invoked: clang finds the GCC installation
        # (libstdc++ headers) relative to argv[0], and records those paths.
        programs = {driver: tree_path(invoked)}
        resource_tree = tree_path(_run([driver, "-print-resource-dir"]).strip())
        # Asked as the user runs it: the GCC it selects depends on argv[0].
        for line in _run([os.path.abspath(invoked), "-v", "-E", "-x", "c", "/dev/null", "-o", "/dev/null"]).splitlines():
            if line.startswith("Selected GCC installation: "):
                selected = line.split(": ", 1)[1].strip()
                if "/lib/gcc/" in selected:
                    gcc_prefix = selected[: selected.index("/lib/gcc/")]
                gcc_dir = os.path.normpath(selected)
                crt = os.path.join(gcc_dir, "crtbegin.o")  # what clang looks for
                if os.path.isfile(crt):
                    extra[crt] = tree_path(crt)
        as_dir = ""
    else:
        programs = {driver: tree_path(driver)}
        for name in ("cc1", "cc1plus"):
            p = _run([driver, f"-print-prog-name={name}"]).strip()
            if os.path.isabs(p) and os.path.isfile(p):
                programs[p] = tree_path(p)
        as_name = _run([driver, "-print-prog-name=as"]).strip()
        as_path = _which(as_name)
        if as_path is None:
            raise GgccError(f"{driver}: its assembler {as_name!r} is not on PATH")
        as_real = os.path.realpath(as_path)
        if os.path.isabs(as_name):  # found in the driver's own directories
            as_tree = tree_path(as_name)
            as_dir = os.path.dirname(as_tree)
        else:  # looked up by name: the -B directory is searched first
            as_dir = "usr/bin"
            as_tree = f"{as_dir}/{as_name}"
        programs[as_real] = as_tree
    rt = capture_runtime(programs, extra, store, hashes)
    return Toolchain(
        family=family,
        version=version,
        driver_id=driver_id,
        driver_tree=programs[driver],
        loader_tree=rt.loader_tree,
        library_dirs_tree=rt.library_dirs_tree,
        as_dir_tree=as_dir,
        files=rt.files,
        resource_dir_tree=resource_tree,
        gcc_prefix=gcc_prefix,
    )


def expand_native(driver: str, natives: tuple[str, ...]) -> tuple[str, ...]:
    """The concrete flags the driver gives cc1 for -march=native and friends."""
    out = _run([driver, *natives, "-###", "-E", "-x", "c", "/dev/null"])
    for line in out.splitlines():
        words = _split_quoted(line.strip())
        if words and words[0].endswith("/cc1"):
            flags: list[str] = []
            it = iter(words[1:])
            for w in it:
                if w.startswith("-m"):
                    flags.append(w)
                elif w == "--param":
                    flags.extend([w, next(it, "")])
            if flags:
                return tuple(flags)
    raise GgccError(f"{driver}: cannot see what {' '.join(natives)} expands to")


def _split_quoted(line: str) -> list[str]:
    import shlex

    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def load_or_capture(driver: str, invoked: str, store: LocalStore, hashes: HashCache) -> Toolchain:
    """The toolchain for this driver, from the cache if every file is unchanged."""
    driver_id = hashes.file_id(driver)
    path = _record_path(store, driver_id, invoked)
    tc = _load(path)
    if tc is not None and still_valid(tc.files, store, hashes):
        return tc
    tc = capture(driver, invoked, driver_id, store, hashes)
    _save(path, tc)
    return tc


def _record_path(store: LocalStore, driver_id: str, invoked: str) -> str:
    # clang's tree depends on where it was invoked from; gcc's does not, but
    # one record per (content, invocation path) is simple and cheap.
    import hashlib

    where = hashlib.sha256(os.path.abspath(invoked).encode()).hexdigest()[:16]
    return os.path.join(store.root, "toolchains", f"{driver_id[1:]}-{where}.json")


def with_native(tc: Toolchain, driver: str, invoked: str, natives: tuple[str, ...], store: LocalStore) -> tuple[str, ...]:
    """The expansion of ``natives`` for this toolchain, cached with it."""
    got = tc.expansion(natives)
    if got is not None:
        return got
    flags = expand_native(driver, natives)
    updated = Toolchain(**{**asdict(tc), "files": tc.files, "native_flags": tc.native_flags + ((" ".join(natives), flags),)})
    _save(_record_path(store, tc.driver_id, invoked), updated)
    return flags


def _save(path: str, tc: Toolchain) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    obj = asdict(tc)
    obj["format"] = FORMAT
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


def _parse(data: bytes) -> Toolchain | None:
    obj = json.loads(data)
    if obj.pop("format", None) != FORMAT:
        return None
    obj["files"] = tuple(ToolFile(**f) for f in obj["files"])
    obj["library_dirs_tree"] = tuple(obj["library_dirs_tree"])
    obj["native_flags"] = tuple((k, tuple(v)) for k, v in obj["native_flags"])
    return Toolchain(**obj)


_records = ParsedFiles(_parse, limit=1000)  # read on every compile: a stat, not a parse


def _load(path: str) -> Toolchain | None:
    try:
        return _records.get(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None
