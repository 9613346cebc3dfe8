"""The shared libraries and loader an ELF program needs, found as ld.so would.

Reads PT_INTERP, DT_NEEDED, DT_RPATH and DT_RUNPATH with pyelftools (no
``ldd``: it runs the program's loader, and a hostile binary could run code)
and resolves each needed library the way glibc's loader does: RPATH (only
when there is no RUNPATH), RUNPATH, the directories of /etc/ld.so.conf,
then the default directories.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from ggcc.base.errors import GgccError

_DEFAULT_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")


@dataclass(frozen=True)
class ElfInfo:
    interpreter: str
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    machine: str
    elfclass: int


def read_elf(path: str) -> ElfInfo:
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            interp = ""
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_INTERP":
                    interp = str(getattr(seg, "get_interp_name")())
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            for sec in elf.iter_sections():
                if not isinstance(sec, DynamicSection):
                    continue
                for tag in sec.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(str(getattr(tag, "needed")))
                    elif tag.entry.d_tag == "DT_RPATH":
                        rpath.extend(_expand(str(getattr(tag, "rpath")), path))
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        runpath.extend(_expand(str(getattr(tag, "runpath")), path))
            return ElfInfo(interp, tuple(needed), tuple(rpath), tuple(runpath), elf["e_machine"], elf.elfclass)
    except (OSError, ValueError, Exception) as e:  # pyelftools raises its own error types
        raise GgccError(f"{path}: cannot read as an ELF file ({e.__class__.__name__}: {e})") from None


def _expand(spec: str, origin_of: str) -> list[str]:
    origin = os.path.dirname(os.path.realpath(origin_of))
    out = []
    for d in spec.split(":"):
        if not d:
            continue
        d = d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
        d = d.replace("$LIB", "lib64").replace("${LIB}", "lib64").replace("$PLATFORM", "x86_64").replace("${PLATFORM}", "x86_64")
        out.append(d)
    return out


def ld_so_conf_dirs(conf: str = "/etc/ld.so.conf") -> list[str]:
    dirs: list[str] = []
    seen: set[str] = set()

    def read(path: str) -> None:
        if path in seen:
            return
        seen.add(path)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include "):
                pattern = line[len("include "):].strip()
                if not pattern.startswith("/"):
                    pattern = os.path.join(os.path.dirname(path), pattern)
                for p in sorted(glob.glob(pattern)):
                    read(p)
            elif line.startswith("hwcap "):
                continue
            else:
                dirs.append(line)

    read(conf)
    return dirs


@dataclass(frozen=True)
class Closure:
    interpreter: str  # the loader, by the path programs name it
    libraries: tuple[str, ...]  # resolved paths, in discovery order
    library_dirs: tuple[str, ...]  # their directories, in order, for --library-path


def closure(programs: list[str]) -> Closure:
    """Every library the programs load, recursively, and their one loader."""
    order, interp = _walk_needed(programs, strict=True)
    if not interp:
        raise GgccError(f"{programs[0]}: not a dynamically linked program (no PT_INTERP)")
    dirs: list[str] = []
    for lib in order:
        d = os.path.dirname(lib)
        if d not in dirs:
            dirs.append(d)
    return Closure(interp, tuple(order), tuple(dirs))


def needed_closure(libraries: list[str]) -> list[str]:
    """The libraries shared libraries need, recursively, found as the loader
    would (those it cannot find are left out: the caller's tool will say).

    ld reads these too when it links against a shared library (to check
    that library's own undefined symbols), yet its -t trace does not name
    them."""
    return _walk_needed(libraries, strict=False)[0]


def _walk_needed(start: list[str], strict: bool) -> tuple[list[str], str]:
    """(the DT_NEEDED libraries of ``start``, recursively, in discovery
    order; the one loader they name). ``strict``: an unreadable file, an
    unresolvable library or two loaders raise GgccError instead of being
    passed over."""
    conf_dirs = ld_so_conf_dirs()
    interp = ""
    found: dict[str, str] = {}  # soname -> path
    order: list[str] = []
    queue = list(start)
    seen_files: set[str] = set()
    while queue:
        path = queue.pop(0)
        if path in seen_files:
            continue
        seen_files.add(path)
        try:
            info = read_elf(path)
        except GgccError:
            if strict:
                raise
            continue
        if info.interpreter:
            if interp and interp != info.interpreter and strict:
                raise GgccError(f"{path}: uses loader {info.interpreter}, others use {interp}")
            interp = interp or info.interpreter
        search = (list(info.rpath) if not info.runpath else []) + list(info.runpath) + conf_dirs + list(_DEFAULT_DIRS)
        for soname in info.needed:
            if soname in found:
                continue
            lib = _find(soname, search, info.machine, info.elfclass)
            if lib is None:
                if strict:
                    raise GgccError(f"{path}: needs {soname}, which the loader's search path does not have")
                continue
            found[soname] = lib
            order.append(lib)
            queue.append(lib)
    return order, interp


def _find(soname: str, dirs: list[str], machine: str, elfclass: int) -> str | None:
    if "/" in soname:
        return soname if os.path.exists(soname) else None
    for d in dirs:
        p = os.path.join(d, soname)
        if os.path.isfile(p):
            try:
                info = read_elf(p)
            except GgccError:
                continue
            if info.machine == machine and info.elfclass == elfclass:
                return p
    return None
