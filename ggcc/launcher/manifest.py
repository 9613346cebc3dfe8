"""Direct mode: answering a repeated compile without starting the compiler.

After a compile, ggcc records under a key made of everything in the command
(compiler, arguments, working directory, locale, output and depfile
options) what the scan found: every file read, with its content id, and
the paths that did *not* exist but would have been chosen had they existed
(a header of the same name in an earlier directory of the search list).
Next time, if every file still has its id (a stat each, through the hash
cache) and every such path is still absent, the thunk is the same and its
cached result is the answer; the depfile comes from the store too.

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
from dataclasses import dataclass

from ggcc.fsutil import atomic_write_bytes
from ggcc.hash_cache import HashCache

MAX_ENTRIES = 8


@dataclass(frozen=True)
class Entry:
    files: tuple[tuple[str, str], ...]  # (path as the scan named it, id)
    absent: tuple[str, ...]  # absolute paths that must stay absent
    thunk_id: str
    depfile_id: str  # "" if the command writes no depfile


def key(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _path(root: str, k: str) -> str:
    return os.path.join(root, "manifests", k[:2], k)


def lookup(root: str, k: str, cwd: str, hashes: HashCache, shared: object = None) -> Entry | None:
    """A valid entry, from the local file or else from the shared store."""
    for e in _load(_path(root, k)):
        if _still_valid(e, cwd, hashes):
            return e
    get = getattr(shared, "get_small", None)
    data = get(f"manifests/{k}") if get is not None else None
    if data:
        try:
            os.makedirs(os.path.dirname(_path(root, k)), exist_ok=True)
            atomic_write_bytes(_path(root, k), data)
        except OSError:
            return None
        for e in _load(_path(root, k)):
            if _still_valid(e, cwd, hashes):
                return e
    return None


def _still_valid(e: Entry, cwd: str, hashes: HashCache) -> bool:
    for p in e.absent:
        if os.path.lexists(p):
            return False
    for p, id_ in e.files:
        try:
            if hashes.file_id(os.path.join(cwd, p)) != id_:
                return False
        except OSError:
            return False
    return True


def record(root: str, k: str, entry: Entry, shared: object = None) -> None:
    path = _path(root, k)
    entries = [entry] + [e for e in _load(path) if e.thunk_id != entry.thunk_id]
    obj = [
        {"files": [list(f) for f in e.files], "absent": list(e.absent), "thunk": e.thunk_id, "depfile": e.depfile_id}
        for e in entries[:MAX_ENTRIES]
    ]
    data = json.dumps(obj, separators=(",", ":")).encode()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError:
        pass  # an optimisation: never fail a compile for it
    put = getattr(shared, "put_small", None)
    if put is not None:
        put(f"manifests/{k}", data)


def _load(path: str) -> list[Entry]:
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read())
        return [
            Entry(tuple((str(p), str(i)) for p, i in o["files"]), tuple(o["absent"]), str(o["thunk"]), str(o["depfile"]))
            for o in obj
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def absent_candidates(files: list[str], search_dirs: list[str], cwd: str) -> list[str]:
    """Paths that would shadow a found header if they appeared."""
    dirs = [os.path.normpath(os.path.join(cwd, d)) for d in search_dirs]
    found = [os.path.normpath(os.path.join(cwd, f)) for f in files]
    present = set(found)
    out: set[str] = set()
    project: list[tuple[str, str]] = []  # (dir, name) of headers outside the search list
    for path in found:
        for k, d in enumerate(dirs):
            if path.startswith(d + "/"):
                name = path[len(d) + 1:]
                out.update(os.path.join(earlier, name) for earlier in dirs[:k])
                break
        else:
            project.append((os.path.dirname(path), os.path.basename(path)))
    project_dirs = {d for d, _ in project}
    for d, name in project:
        out.update(os.path.join(pd, name) for pd in project_dirs if pd != d)
    return sorted(p for p in out if p not in present and not os.path.lexists(p))
