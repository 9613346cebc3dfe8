"""Direct mode: answering a repeated compile without starting the compiler.

After a compile, ggcc records under a key made of everything in the command
(compiler, arguments, working directory, locale, output and depfile
options) what the scan found: every file read, with its content id, and
the paths that did *not* exist but would have been chosen had they existed
(a header of the same name in an earlier directory of the search list).
Next time, if every file still has its id (a stat each, through the hash
cache) and every such path is still absent, the thunk is the same and its
cached result is the answer; the depfile comes from the store too.

Missing paths are many (every system header is first looked for in each
-I directory), so most are kept as the directory they would appear in,
with its mtime: creating, renaming or removing an entry changes it, so one
stat answers for all the names looked for there; a directory that did not
exist stands for every path under it. A directory modified within
RACY_WINDOW_S of being recorded keeps its paths one by one. A directory
of the build's own tree (the working directory and below) is written to by
the build itself, every object and program changing its mtime: its names
are kept, and checked against one listing of it (an autotools project
looks for every system header in `.` first; by mtime, its first rebuild
found none of its records valid).

Files found relative to the including file's directory, shadowed later by a
new header in a project directory, are covered for project headers (every
project directory that holds a header is checked for each project header's
name); the system headers' own relative includes are not, as in ccache's
direct mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from typing import Callable

from ggcc.base.fsutil import ParsedFiles, atomic_write_bytes
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.store import Store

Listing = Callable[[str], "frozenset[str]"]  # a directory -> the names of its non-directories

MAX_ENTRIES = 8
RACY_WINDOW_S = 2.0
MISSING_DIR = -1  # in absent_dirs: the directory itself did not exist


@dataclass(frozen=True)
class Entry:
    files: tuple[tuple[str, str], ...]  # (path as the scan named it, id)
    absent: tuple[str, ...]  # absolute paths that must stay absent
    thunk_id: str
    depfile_id: str  # "" if the command writes no depfile
    absent_dirs: tuple[tuple[str, int], ...] = ()  # (directory, mtime_ns or MISSING_DIR): unchanged
    absent_listed: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (directory, names none of which it holds)


Compressed = tuple[tuple[str, ...], tuple[tuple[str, int], ...], tuple[tuple[str, tuple[str, ...]], ...]]


def compress_absent(paths: tuple[str, ...], listing: Listing | None = None, inside: str = "") -> Compressed | None:
    """(paths kept one by one, directories standing for the rest by their
    mtime, directories of the build's tree ``inside`` with the names to
    look for in one listing), or None if one of the paths exists now (the
    scan is already out of date).

    ``listing`` (the scanner's cached directory listings, ScanCache.listing)
    answers for a directory's hundreds of names with one stat; without it,
    a lexists each. (The listing leaves directories out, as gcc's lookup
    does: a directory named like a header does not shadow it.)"""
    # Thousands of paths per compile: each is split once, and joined again
    # only if kept one by one (os.path.dirname, basename and a join for
    # each made this 5x slower: 3.3 vs 0.7 ms for 2,400 paths).
    by_dir: dict[str, list[str]] = {}
    for p in paths:
        d, _, name = p.rpartition("/")
        by_dir.setdefault(d or "/", []).append(name)
    singles: list[str] = []
    dirs: list[tuple[str, int]] = []
    listed: list[tuple[str, tuple[str, ...]]] = []
    now = time.time()
    top = inside.rstrip("/")
    for d, names in by_dir.items():
        if len(names) == 1:
            singles.append(os.path.join(d, names[0]))
            continue
        if top and (d == top or d.startswith(top + "/")):
            if not _names_in(d).isdisjoint(names):
                return None
            listed.append((d, tuple(sorted(names))))
            continue
        before = _mtime(d)
        if before is not None and before != MISSING_DIR and now - before / 1e9 < RACY_WINDOW_S:
            singles.extend(os.path.join(d, n) for n in names)
            continue
        if listing is not None:
            if not listing(d).isdisjoint(names):
                return None
        elif any(os.path.lexists(os.path.join(d, n)) for n in names):
            return None
        if before is None or _mtime(d) != before:
            singles.extend(os.path.join(d, n) for n in names)
            continue
        dirs.append((d, before))
    if any(os.path.lexists(p) for p in singles):
        return None
    return tuple(singles), tuple(dirs), tuple(listed)


def _names_in(d: str) -> frozenset[str]:
    """Every name in directory ``d`` (none if it is not there). Directories
    count too: a name taken by one is not absent (the check errs towards a
    miss, never towards a wrong hit)."""
    try:
        return frozenset(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()


def _mtime(d: str) -> int | None:
    try:
        return os.stat(d).st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return MISSING_DIR
    except OSError:
        return None


def key(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _path(root: str, k: str) -> str:
    return os.path.join(root, "manifests", k[:2], k)


def lookup(root: str, k: str, cwd: str, hashes: HashCache, shared: Store | None = None) -> Entry | None:
    """A valid entry, from the local file or else from the shared store."""
    now: dict[str, str] = {}  # ids taken during this lookup: a just-edited file is not cached
    for e in _load(_path(root, k)):
        if _still_valid(e, cwd, hashes, now):
            return e
    data = shared.get_small(f"manifests/{k}") if shared is not None else None
    if data:
        try:
            atomic_write_bytes(_path(root, k), data, make_dirs=True)
        except OSError:
            return None
        for e in _load(_path(root, k)):
            if _still_valid(e, cwd, hashes, now):
                return e
    return None


def _still_valid(e: Entry, cwd: str, hashes: HashCache, now: dict[str, str]) -> bool:
    # The files first, source first: after an edit, the edited file ends
    # the check of each of the key's entries (up to MAX_ENTRIES, one per
    # earlier version) at once, before hundreds of absent paths are stat'ed;
    # ``now`` keeps its new id, which the hash cache does not (too recent).
    base = cwd.rstrip("/") + "/"
    for p, id_ in e.files:
        path = p if p[:1] == "/" else base + p
        try:
            got = now.get(path) or hashes.file_id(path)
        except OSError:
            return False
        if got != id_:
            now[path] = got
            return False
    for d, mtime in e.absent_dirs:
        if _mtime(d) != mtime:
            return False
    for d, names in e.absent_listed:
        try:
            if not _names_in(d).isdisjoint(names):
                return False
        except OSError:
            return False
    for p in e.absent:
        if os.path.lexists(p):
            return False
    return True


def record(root: str, k: str, entry: Entry, shared: Store | None = None, listing: Listing | None = None,
           inside: str = "") -> None:
    """Keep ``entry`` for key ``k``; ``inside``: the build's working
    directory (its tree's absent paths are checked by listing)."""
    if not entry.absent_dirs and not entry.absent_listed:
        compressed = compress_absent(entry.absent, listing, inside)
        if compressed is None:
            return  # a header appeared since the scan: do not vouch for it
        entry = replace(entry, absent=compressed[0], absent_dirs=compressed[1], absent_listed=compressed[2])
    path = _path(root, k)
    entries = ([entry] + [e for e in _load(path) if e.thunk_id != entry.thunk_id])[:MAX_ENTRIES]
    data = b"[" + b",".join(_encoded(e) for e in entries) + b"]"
    try:
        atomic_write_bytes(path, data, make_dirs=True)
        _manifests.remember(path, tuple(entries))
    except OSError:
        pass  # an optimisation: never fail a compile for it
    if shared is not None:
        shared.put_small(f"manifests/{k}", data)


def _encoded(e: Entry) -> bytes:
    """An entry as JSON: each entry is written up to MAX_ENTRIES times (once
    per later version of the source, while it stays among the newest), but
    encoded once (~1 ms for a few hundred files)."""
    data = _encodings.get(e.thunk_id)
    if data is None or data[0] is not e:
        obj = {"files": e.files, "absent": e.absent, "thunk": e.thunk_id, "depfile": e.depfile_id,
               "absent_dirs": e.absent_dirs, "absent_listed": e.absent_listed}
        data = (e, json.dumps(obj, separators=(",", ":")).encode())
        if len(_encodings) >= 256:  # the keys being edited; a build's others are written once
            _encodings.clear()
        _encodings[e.thunk_id] = data
    return data[1]


_encodings: dict[str, tuple[Entry, bytes]] = {}  # thunk id -> (the entry, its JSON)


def _parse(data: bytes) -> tuple[Entry, ...]:  # a tuple: ParsedFiles shares it between threads
    return tuple(
        Entry(tuple((str(p), str(i)) for p, i in o["files"]), tuple(o["absent"]), str(o["thunk"]), str(o["depfile"]),
              tuple((str(d), int(m)) for d, m in o.get("absent_dirs", [])),
              tuple((str(d), tuple(str(n) for n in ns)) for d, ns in o.get("absent_listed", [])))
        for o in json.loads(data)
    )


_manifests = ParsedFiles(_parse)  # a direct hit costs a stat here, not a read and a parse


def _load(path: str) -> tuple[Entry, ...]:
    try:
        return _manifests.get(path)
    except (OSError, ValueError, KeyError, TypeError):
        return ()
