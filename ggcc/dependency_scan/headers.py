"""The files a compile reads, and the user's depfile.

Two ways to get them. ggcc's own scanner (scanner.py) walks cached
preprocessor directives with the compiler's predefined macros and search
list, both taken from one ``-dM -v`` run per compiler and flag set; it
writes the depfile itself, byte for byte as gcc would. When it cannot be
exact (see scanner.Unsupported) or is turned off (GGCC_SCAN=compiler), the
compiler's own ``-M`` runs on the host tree, so the list is exactly what
the compile will open; the depfile then comes from the same kind of run,
with the -MF/-MT/-MQ/-MP options the driver would have given cc1.

GGCC_SCAN_VERIFY=1 runs both and records every difference (a header the
scanner missed, the share of extra ones, a depfile that differs) in
``<store>/scan-verify.jsonl`` and the stats; the compiler's answer is the
one used then.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ggcc.dependency_scan import probes
from ggcc.dependency_scan.depfile import parse_depfile
from ggcc.formats.compile import Compile


@dataclass(frozen=True)
class Scan:
    files: tuple[str, ...]  # source and headers, as the compiler named them
    depfile_tmp: str  # the user's depfile, written beside its target; "" if none
    search_dirs: tuple[str, ...] = ()  # the include search list, in order (from -v)
    # Every path looked for and missing (the compiler's scan: see probes.py);
    # None when that is not known: no direct-mode record.
    absent: tuple[str, ...] | None = None
    method: str = "compiler"  # "own" or "compiler"
    fallback: str = ""  # why the compiler scanned, when the own scanner could not
    # Content ids the own scanner hashed, by host path (cwd joined): the
    # thunk's inputs are then the very contents the scan walked, and are
    # not looked up again. Empty for the compiler's scan. Read-only.
    ids: Mapping[str, str] = field(default_factory=dict)
    probed: tuple[str, ...] = ()  # files an __has_include found and the compile did not read (host paths)


class ScanFailed(Exception):
    """The compiler could not list the dependencies (it will say why itself)."""


def compiler_scan(compiler: str, comp: Compile, cwd: str, env: dict[str, str]) -> Scan:
    """The compiler's own -M; ScanFailed if the compiler refuses."""
    base = [compiler] + [a for a in comp.args if a != "-c"]
    with tempfile.TemporaryDirectory(prefix="ggcc-scan-") as tmp:
        full = os.path.join(tmp, "all.d")
        log = _run(base + ["-v", "-M", "-MF", full, "-MQ", "x"], cwd, env)
        with open(full, encoding="utf-8", errors="surrogateescape") as f:
            files = parse_depfile(f.read())
    search_dirs = parse_search_list(log)
    looked = probes.looked_for(files, search_dirs, cwd)
    depfile_tmp = _compiler_depfile(compiler, comp, cwd, env) if comp.deps.kind else ""
    if looked is None:
        return Scan(tuple(files), depfile_tmp, tuple(search_dirs))
    return Scan(tuple(files), depfile_tmp, tuple(search_dirs), looked[1], probed=looked[0])


def _compiler_depfile(compiler: str, comp: Compile, cwd: str, env: dict[str, str]) -> str:
    """The user's depfile written by the compiler, in a temporary file beside it."""
    base = [compiler] + [a for a in comp.args if a != "-c"]
    targets: list[str] = []
    for opt, t in comp.deps.targets:
        targets += [opt, t]
    if not targets:
        targets = ["-MQ", comp.output]  # what the driver gives cc1 for -MD
    depfile_tmp = _temp_beside(os.path.join(cwd, comp.deps.file))
    flags = ["-M" if comp.deps.kind == "MD" else "-MM", "-MF", depfile_tmp, *targets]
    if comp.deps.phony:
        flags.append("-MP")
    if comp.deps.missing_ok:
        flags.append("-MG")
    try:
        _run(base + flags, cwd, env)
    except BaseException:
        os.unlink(depfile_tmp)
        raise
    return depfile_tmp


def parse_search_list(log: str) -> list[str]:
    """The directories of '#include "..."' then '#include <...>', in order."""
    from ggcc.dependency_scan.scan_config import parse_search_lists

    quote, bracket, _ = parse_search_lists(log)
    return list(dict.fromkeys(quote + bracket))


def _run(argv: list[str], cwd: str, env: dict[str, str]) -> str:
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ScanFailed(str(e)) from None
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        raise ScanFailed(err.strip().splitlines()[-1] if err.strip() else f"exit {p.returncode}")
    return err


@dataclass(frozen=True)
class Verification:
    """The own scanner's answer against the compiler's, for one compile."""

    missing: tuple[str, ...]  # read by the compiler, not found by the scanner
    extra: int  # found by the scanner, not read by the compiler
    total: int  # files the compiler read
    depfile_equal: bool | None  # None when no depfile was asked for, or the scan was not exact
    fallback: str  # why the own scanner did not answer, if it did not


_default_cache: object = None


def scan(compiler: str, comp: Compile, cwd: str, env: dict[str, str],
         cache: object = None) -> tuple[Scan, Verification | None]:
    """The scan for this compile, by the own scanner when it can answer."""
    from ggcc.dependency_scan import scan_cache, scanner

    if env.get("GGCC_SCAN") == "compiler":
        return compiler_scan(compiler, comp, cwd, env), None
    if not isinstance(cache, scan_cache.ScanCache):
        cache = _fallback_cache()
    verify = env.get("GGCC_SCAN_VERIFY") == "1"
    try:
        own = own_scan(compiler, comp, cwd, env, cache)
    except scanner.Unsupported as e:
        fallback = str(e)
        ref = replace(compiler_scan(compiler, comp, cwd, env), fallback=fallback)
        return ref, (Verification((), 0, len(ref.files), None, fallback) if verify else None)
    if not verify:
        return own, None
    try:
        ref = compiler_scan(compiler, comp, cwd, env)
    except BaseException:
        _discard(own.depfile_tmp)
        raise
    mine = {os.path.normpath(os.path.join(cwd, f)) for f in own.files}
    theirs = {os.path.normpath(os.path.join(cwd, f)): f for f in ref.files}
    equal: bool | None = None
    if own.depfile_tmp and ref.depfile_tmp and own.fallback == "":
        with open(own.depfile_tmp, "rb") as a, open(ref.depfile_tmp, "rb") as b:
            equal = a.read() == b.read()
    _discard(own.depfile_tmp)
    missing = tuple(sorted(f for p, f in theirs.items() if p not in mine))
    return ref, Verification(missing, len(mine - set(theirs)), len(theirs), equal, "")


def _discard(path: str) -> None:
    if path and os.path.exists(path):
        os.unlink(path)


def _fallback_cache() -> object:
    """A process-wide cache for callers without a daemon context."""
    global _default_cache
    from ggcc.dependency_scan.scan_cache import ScanCache
    from ggcc.storage.hash_cache import HashCache

    if _default_cache is None:
        _default_cache = ScanCache(None, HashCache(None))
    return _default_cache


def own_scan(compiler: str, comp: Compile, cwd: str, env: dict[str, str], cache: object) -> Scan:
    """The own scanner's answer; scanner.Unsupported when it has none."""
    from ggcc.dependency_scan import depfile, scan_config, scanner
    from ggcc.dependency_scan.scan_cache import FileChanged, ScanCache

    assert isinstance(cache, ScanCache)
    scan_config.check_supported(comp, env)
    config = scan_config.config_for(compiler, comp, cwd, env, cache)
    session = cache.session()
    try:
        r = scanner.scan(config, comp.source, cwd, session)
    except FileChanged:
        raise scanner.Unsupported("file-changed") from None
    except OSError:
        raise scanner.Unsupported("unreadable-header") from None
    depfile_tmp = ""
    fallback = ""
    if comp.deps.kind and (not r.exact or config.family != "gcc"):
        # clang lays its depfiles out differently (and drops duplicates):
        # the scan gives the inputs, clang writes the depfile.
        depfile_tmp = _compiler_depfile(compiler, comp, cwd, env)
        fallback = "depfile-not-exact" if config.family == "gcc" else "depfile-clang"
    elif comp.deps.kind:
        deps = [p for p, system in r.deps if comp.deps.kind == "MD" or not system]
        targets = list(comp.deps.targets) or [("-MQ", comp.output)]
        text = depfile.render(targets, deps, comp.deps.phony)
        depfile_tmp = _temp_beside(os.path.join(cwd, comp.deps.file))
        with open(depfile_tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
    search = config.quote_dirs + config.bracket_dirs
    absent = r.absent | {os.path.join(cwd, d) for d in config.missing_dirs}  # a new directory changes the list
    return Scan(tuple(r.files), depfile_tmp, search, tuple(sorted(absent)), "own", fallback, session.ids)


def _temp_beside(dest: str) -> str:
    """A temporary file for the depfile ``dest``: beside where it will be
    renamed to (a depfile that is /dev/null or a FIFO gets one elsewhere)."""
    from ggcc.base import placement
    from ggcc.base.fsutil import open_temp_beside

    where = placement.scratch_dir(dest, placement.FOPEN)
    fd, tmp = open_temp_beside(os.path.join(where, os.path.basename(dest)), ".ggcc-dep-")
    os.close(fd)
    return tmp
