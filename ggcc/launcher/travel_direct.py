"""Direct mode across roots: a compile in another checkout answered
without scanning its headers or building its thunk.

manifest.py answers a repeated compile at the same path. Its records name
absolute paths, and say "nothing new here" with directory mtimes, so in a
second checkout every compile would scan again and hash every header at
its new path before travel.py finds its result. Here each compile whose
result travels (its travel record is not tied to its root) also gets an
entry keyed like the manifest's but with its base swapped for a token:
the files it read, by content, under the base or not; the paths that must
stay absent, by directory and name (no mtimes: they differ from one
checkout, or machine, to the next); the travel key; and its depfile as
pieces around the base (CMake's name headers by absolute path).

A lookup does not know the base (the headers decide it), so entries are
found by an *index* key that needs none: the key's parts with every path
written relative to the working directory through their deepest common
ancestor ("/w/a/proj/include" from "/w/a/proj/build" is "up 1, include").
Each entry says how far up its base is, and holds its key with that base
swapped: one lookup (one request to a shared store) finds the candidates,
and an entry is used only if this compile's key with its own base swapped
is that key, every file at this root still has its content id and every
absent path is still absent. Then this root's thunk would be the recorded
one with the base swapped, and so would its travel key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ggcc.base import stats
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk
from ggcc.launcher import travel
from ggcc.launcher.compile_thunk import OBJECT_TAG
from ggcc.launcher.manifest import key as manifest_key
from ggcc.storage.store import Store

FORMAT = 1
MAX_ENTRIES = 4

Listing = Callable[[str], "frozenset[str]"]


@dataclass(frozen=True)
class Entry:
    up: int  # the base is the working directory this many levels up
    key: str  # key(parts, base) when recorded: the same here, or the entry is not this compile's
    files: tuple[tuple[str, str], ...]  # (path: relative to cwd, absolute, or BASE_TOKEN/...; id)
    absent: tuple[tuple[str, tuple[str, ...]], ...]  # (directory, names): none may exist
    travel_key: str
    depfile: tuple[bytes, ...] | None  # pieces around the base; None: no depfile

    def at(self, base: str) -> tuple[list[tuple[str, str]], list[tuple[str, tuple[str, ...]]], bytes | None]:
        """Files, absent paths and depfile at ``base``."""
        def here(p: str) -> str:
            return base + p[len(travel.BASE_TOKEN):] if p.startswith(travel.BASE_TOKEN) else p

        files = [(here(p), i) for p, i in self.files]
        absent = [(here(d), names) for d, names in self.absent]
        depfile = travel.join_text(list(self.depfile), base) if self.depfile is not None else None
        return files, absent, depfile


def key(parts: Sequence[object], base: str) -> str:
    """The manifest key's parts (manifest.key) with ``base`` swapped for a
    token in every string."""
    return manifest_key(["travel", FORMAT, *_strings_mapped(parts, travel._swapper(base))])


def index_key(parts: Sequence[object], cwd: str) -> str:
    """A key for the parts that does not depend on where the tree is: each
    path that shares a directory with ``cwd`` is written relative to it,
    through their deepest common ancestor."""
    swaps = [(travel._swapper(a), f"@@GGCC_UP{n}@@") for n, a in enumerate(ancestors(cwd))]

    def relative(v: str) -> str:
        if "/" in v:
            for swap, token in swaps:  # deepest first: a path takes its nearest ancestor
                v = swap(v).replace(travel.BASE_TOKEN, token)
        return v

    return manifest_key(["travel-index", FORMAT, *_strings_mapped(parts, relative)])


def _strings_mapped(parts: Sequence[object], fn: Callable[[str], str]) -> list[object]:
    """``parts`` with ``fn`` applied to every string, in lists too."""
    def walk(v: object) -> object:
        if isinstance(v, str):
            return fn(v)
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v

    return [walk(p) for p in parts]


def ancestors(cwd: str) -> list[str]:
    """cwd and the directories above it, deepest first, "/" left out."""
    out = []
    d = os.path.normpath(cwd)
    while d != "/":
        out.append(d)
        d = os.path.dirname(d)
    return out


def make_entry(base: str, cwd: str, parts: Sequence[object], files: Sequence[tuple[str, str]], absent: Sequence[str],
               travel_key: str, depfile: bytes | None) -> Entry | None:
    """The entry for a compile at ``base``, or None if its depfile names
    the base in a way a join cannot redo."""
    pieces = None
    if depfile is not None:
        split = travel.split_text(depfile, base)
        if split is None:
            return None
        pieces = tuple(split)
    swap = travel._swapper(base)
    groups: dict[str, set[str]] = {}
    for p in absent:  # thousands: split once each, the base swapped once per directory
        d, _, name = (p if p[:1] == "/" else os.path.join(cwd, p)).rpartition("/")
        groups.setdefault(d or "/", set()).add(name)
    rel_absent = tuple(sorted((swap(d), tuple(sorted(names))) for d, names in groups.items()))
    rel_files = tuple((swap(p) if p[:1] == "/" else p, i) for p, i in files)
    above = ancestors(cwd)
    if base not in above:
        return None  # a base that does not hold the working directory: nothing to find it by
    return Entry(above.index(base), key(parts, base), rel_files, rel_absent, travel_key, pieces)


def still_valid(files: list[tuple[str, str]], absent: list[tuple[str, tuple[str, ...]]], cwd: str,
                file_id: Callable[[str], str], listing: Listing) -> bool:
    base = cwd.rstrip("/") + "/"
    for p, id_ in files:
        path = p if p[:1] == "/" else base + p
        try:
            if file_id(path) != id_:
                return False
        except OSError:
            return False
    return all(listing(d).isdisjoint(names) for d, names in absent)


# -- storage -------------------------------------------------------------------------
def load(ggcc_dir: str, k: str, store: Store | None = None) -> tuple[Entry, ...]:
    data, _ = travel.load_small(ggcc_dir, "travel-manifests", k, store)
    return _parse(data) if data else ()


def record(ggcc_dir: str, k: str, entry: Entry, store: Store | None = None) -> None:
    entries = [entry] + [e for e in load(ggcc_dir, k) if e.travel_key != entry.travel_key or e.files != entry.files]
    data = json.dumps([_obj(e) for e in entries[:MAX_ENTRIES]], separators=(",", ":")).encode("ascii")
    travel.save_small(ggcc_dir, "travel-manifests", k, data, store)


def _obj(e: Entry) -> dict[str, object]:
    return {"v": FORMAT, "up": e.up, "key": e.key, "files": e.files, "absent": e.absent, "travel": e.travel_key,
            "depfile": None if e.depfile is None else [base64.b64encode(p).decode("ascii") for p in e.depfile]}


def _parse(data: bytes) -> tuple[Entry, ...]:
    try:
        out = []
        for o in json.loads(data):
            if o["v"] != FORMAT:
                continue
            dep = o["depfile"]
            out.append(Entry(int(o["up"]), str(o["key"]), tuple((str(p), str(i)) for p, i in o["files"]),
                             tuple((str(d), tuple(str(n) for n in names)) for d, names in o["absent"]),
                             str(o["travel"]),
                             None if dep is None else tuple(base64.b64decode(p, validate=True) for p in dep)))
        return tuple(out)
    except (KeyError, TypeError, ValueError):
        return ()  # damaged: as if absent (a compile scans again and records anew)


# -- the launcher's two calls ------------------------------------------------------------
def lookup_across_roots(parts: Sequence[object], output: str, want_depfile: bool, cwd: str, env: Mapping[str, str],
                        store: Store, ggcc_dir: str, file_id: Callable[[str], str], listing: Listing, index: str
                        ) -> tuple[Result, bytes | None] | None:
    """A compile's result and depfile from another root's entry, its
    outputs here (checked when used), or None. ``index``: index_key(parts, cwd)."""
    if env.get(travel.BASEDIR_ENV, "") == "/":
        return None
    out_path = os.path.normpath(os.path.join(cwd, output))
    above = ancestors(cwd)
    keys: dict[str, str] = {}  # base -> key(parts, base): one per base, whatever the entries
    for e in load(ggcc_dir, index, store):
        if not 0 <= e.up < len(above) or (e.depfile is not None) != want_depfile:
            continue
        base = above[e.up]
        if base not in keys:
            keys[base] = key(parts, base)
        if keys[base] != e.key:
            continue
        files, absent, depfile = e.at(base)
        if not still_valid(files, absent, cwd, file_id, listing):
            continue
        data, from_shared = travel.load(ggcc_dir, e.travel_key, store)
        names = [travel.under_base(out_path[1:], base)]
        found = travel.result_for(data, base, e.travel_key, [OBJECT_TAG], names) if data else None
        if found is None or not found.other_root:
            continue
        if store.fetch_all([o.ref for o in found.result.outputs]):
            continue  # an output gone from every store
        stats.record(ggcc_dir, (stats.Event.TRAVEL_HIT, "root"))
        if from_shared:
            store.came_from_shared(found.result.thunk_id)
        return found.result, depfile
    return None


def record_across_roots(parts: Sequence[object], thunk: Thunk, cwd: str, files: Sequence[tuple[str, str]],
                        absent: Sequence[str], depfile_id: str, env: Mapping[str, str], store: Store,
                        ggcc_dir: str, index: str) -> None:
    """After a compile whose result travels: its entry for other roots."""
    where = travel.place(thunk, env.get(travel.BASEDIR_ENV, ""), name_free=True)
    if where is None:
        return
    data, _ = travel.load(ggcc_dir, where.key)
    if not data or not travel.travels(data):
        return
    depfile = store.local.read_bytes(depfile_id) if depfile_id else None
    entry = make_entry(where.base, cwd, parts, files, absent, where.key, depfile)
    if entry is not None:
        record(ggcc_dir, index, entry, store)
