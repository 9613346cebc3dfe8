"""A cache that travels: one step's result found from another build root.

A thunk names its files at their host paths, so the same compile in
another checkout (``/builds/proj-7`` instead of ``/builds/proj-3``), or the
same compile to another output name, is another thunk with another id.
Each thunk therefore also gets a *travel key*: the hash of the thunk with
its **base** (the deepest directory holding its working directory, its
outputs and the project's own inputs; GGCC_BASEDIR sets it) replaced by a
token everywhere, and, for a compile, its output's name left out.

The key alone proves nothing: the step ran at its real path, and its
outputs may record that path (``-g`` records the compile directory,
``__FILE__`` its absolute path). So a result is filed under its travel key
only when its bytes are checked not to depend on the base: no output file
contains the base (nor its real path, nor the form a symbol name gives it);
its messages may name it, and are kept as pieces around each occurrence,
to be joined with the other root's base, exactly. An output that records
its own name (found in its bytes) pins the record to that name. Anything
else is "embeds its root": shared only with builds at the same path,
through the thunk's own id, as before.

Records live in ``<GGCC_DIR>/travel`` and, with a shared store, under
``travel/<key>`` there: a CI runner in its own workspace finds a
teammate's work.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import mmap
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ggcc.base.fsutil import atomic_write_bytes
from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.formats.thunk import Thunk
from ggcc.storage.store import Store

BASEDIR_ENV = "GGCC_BASEDIR"
BASE_TOKEN = "@@GGCC_BASE@@"
OUT_TOKEN = "@@GGCC_OUT@@"
FORMAT = 1

# Top-level directories of the system's own files (the toolchain, system
# headers and libraries, locales): an input there does not widen a base.
_SYSTEM_TOPS = frozenset({"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc", "opt", "nix", "gnu"})


@dataclass(frozen=True)
class Place:
    """Where a thunk stands: its base (a host directory) and travel key."""

    base: str  # absolute host path, no trailing slash
    key: str
    name_free: bool  # the key leaves the output names out


@dataclass(frozen=True)
class Found:
    result: Result  # for the thunk asked about
    other_root: bool  # the record was made under another base (else: another output name)


def find_base(thunk: Thunk, setting: str) -> str:
    """The thunk's base as a host path, or "" (nothing to relocate: the
    step spans the whole file system)."""
    cwd = "/" + thunk.cwd if thunk.cwd != "." else "/"
    if setting:
        b = os.path.normpath(setting)
        if b == "/":
            return ""  # the whole file system: keys as absolute as the thunk's own (travel off)
        if cwd == b or cwd.startswith(b + "/"):
            return b
    anchors = [cwd] + ["/" + os.path.dirname(o.path) for o in thunk.outputs]
    anchors += ["/" + os.path.dirname(i.path) for i in thunk.inputs if i.path.partition("/")[0] not in _SYSTEM_TOPS]
    base = os.path.commonpath(anchors)
    return "" if base == "/" else base


def place(thunk: Thunk, setting: str, name_free: bool) -> Place | None:
    """The thunk's travel key, or None if it has no base. Kept per thunk
    for a while: a compile's flow asks for it twice (force.py when it
    runs, travel_direct.py when it records)."""
    k = (thunk.id, setting, name_free)
    if k not in _places:
        if len(_places) >= 4096:
            _places.clear()
        _places[k] = _place(thunk, setting, name_free)
    return _places[k]


_places: dict[tuple[str, str, bool], Place | None] = {}


def _place(thunk: Thunk, setting: str, name_free: bool) -> Place | None:
    base = find_base(thunk, setting)
    if not base:
        return None
    tree = base[1:]
    swap = _swapper(base)

    def rel(p: str) -> str:
        return BASE_TOKEN + p[len(tree):] if p == tree or p.startswith(tree + "/") else p

    args = [swap(a) for a in thunk.args]
    # A compile's thunk names its one output after its one -o. (Options
    # that write files named after the output, -gsplit-dwarf, coverage,
    # -save-temps, -fdump-*, never reach a thunk: args.py runs them here.)
    if name_free:
        at = len(args) - 1 - args[::-1].index("-o") if "-o" in args else -1
        if 0 <= at < len(args) - 1:
            args[at + 1] = f"{OUT_TOKEN}0"
        else:
            name_free = False
    obj = [
        FORMAT,
        [rel(thunk.program.path), thunk.program.ref],
        args,
        [[k, swap(v)] for k, v in thunk.env],
        sorted([rel(i.path), i.ref, i.executable] for i in thunk.inputs),
        [[o.tag, f"{OUT_TOKEN}{n}" if name_free else rel(o.path)] for n, o in enumerate(thunk.outputs)],
        rel(thunk.cwd),
        thunk.timeout_ms,
        sorted(rel(d) for d in thunk.dirs),
    ]
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return Place(base, hashlib.sha256(data).hexdigest(), name_free)


def _swapper(base: str) -> Callable[[str], str]:
    """Replaces the base where it starts a path: at the start of a string,
    after a character that cannot be in a name ('=', ':', '@', a space), or
    after an option's letters ("-I", "-isystem"); never inside a longer
    path ("/home/u/src/proj" holds "/src/proj") or name ("/src/proj2")."""
    after = re.compile(rf"{re.escape(base)}(?![A-Za-z0-9_.\-])")

    def starts_a_path(s: str, i: int) -> bool:
        return i == 0 or not (s[i - 1].isalnum() or s[i - 1] in "_.-/") or (s[0] == "-" and "/" not in s[:i])

    def swap(s: str) -> str:
        if base not in s:
            return s
        out, last = [], 0
        for m in after.finditer(s):
            if starts_a_path(s, m.start()):
                out += [s[last:m.start()], BASE_TOKEN]
                last = m.end()
        return "".join(out) + s[last:] if out else s

    return swap


# -- checking a result ----------------------------------------------------------
@functools.lru_cache(maxsize=256)
def base_forms(base: str) -> tuple[bytes, ...]:
    """The byte strings whose presence in an output ties it to its base:
    the path, its real path, and the path as a symbol name spells it (gcc
    names a file's static constructors after it, '/' made '_'). Kept per
    base: a real path costs a system call per component."""
    forms = {base, os.path.realpath(base), re.sub(r"[^A-Za-z0-9]", "_", base)}
    return tuple(sorted(f.encode("utf-8", "surrogateescape") for f in forms))


def contains(path: str, needles: Sequence[bytes]) -> bool:
    """Whether the file holds any of ``needles`` (mapped, not read)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return any(m.find(n) >= 0 for n in needles)


def split_text(text: bytes, base: str) -> list[bytes] | None:
    """A message as the pieces around each occurrence of the base, or None
    if it names the base in a way a join cannot redo (inside a longer
    name, or as its real path or symbol form only)."""
    b = base.encode("utf-8", "surrogateescape")
    others = [f for f in base_forms(base) if f != b]
    if b not in text:
        return None if any(f in text for f in others) else [text]
    pieces = text.split(b)
    for k in range(len(pieces) - 1):
        if pieces[k][-1:] in _PATH_BYTES or pieces[k + 1][:1] in _NAME_BYTES:
            return None
    if any(f in p for p in pieces for f in others):
        return None
    return pieces


# What may continue a name after the base ("/src/proj2"), and what may
# come before it inside a longer path ("/home/u/src/proj").
_NAME_BYTES = frozenset(bytes([c]) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_PATH_BYTES = _NAME_BYTES | {b"/"}


def join_text(pieces: list[bytes], base: str) -> bytes:
    return base.encode("utf-8", "surrogateescape").join(pieces)


# -- records --------------------------------------------------------------------
@dataclass(frozen=True)
class Made:
    data: bytes | None  # the record; None if no other step could use it
    embeds_root: bool  # the result depends on its root: no other root may use it


def make_record(where: Place, thunk: Thunk, result: Result, file_of: Callable[[str], str]) -> Made:
    """The record that lets another root (or, for a result that embeds its
    root, another output name at the same root) use ``result``.
    ``file_of``: a blob's checked file in the store."""
    forms = base_forms(where.base)
    names: list[bytes] = []
    if where.name_free:
        names = [os.path.basename(o.path).encode("utf-8", "surrogateescape") for o in thunk.outputs]
    pinned = embeds = False
    for o in result.outputs:
        f = file_of(o.ref)
        embeds = embeds or contains(f, forms)
        pinned = pinned or (bool(names) and contains(f, names))
    out = None if embeds else split_text(result.stdout, where.base)
    err = None if embeds else split_text(result.stderr, where.base)
    if out is None or err is None:
        embeds, out, err = True, [result.stdout], [result.stderr]
    pinned = pinned or any(n in result.stdout or n in result.stderr for n in names)
    if embeds and (pinned or not where.name_free):
        return Made(None, True)  # this root, this name: the thunk's own id already finds it
    obj = {
        "v": FORMAT,
        "root": _root_id(where.base),
        "tied": embeds,  # serves its own root only
        # The outputs' paths under the base when the key leaves them out
        # but the bytes name them: the record serves that name only.
        "names": [under_base(o.path, where.base) for o in thunk.outputs] if pinned or not where.name_free else None,
        "outputs": [[o.tag, o.ref, o.executable] for o in result.outputs],
        "stdout": [base64.b64encode(p).decode("ascii") for p in out],
        "stderr": [base64.b64encode(p).decode("ascii") for p in err],
    }
    return Made(json.dumps(obj, separators=(",", ":")).encode("ascii"), embeds)


def use_record(data: bytes, where: Place, thunk: Thunk) -> Found | None:
    """The result the record gives ``thunk`` at its base, or None if the
    record is damaged or serves another output name."""
    return result_for(data, where.base, thunk.id, thunk.output_tags(), [under_base(o.path, where.base) for o in thunk.outputs])


def result_for(data: bytes, base: str, thunk_id: str, tags: list[str], names: list[str]) -> Found | None:
    """use_record for a step known by its output tags and the paths of its
    outputs under ``base`` (travel_direct.py has no thunk)."""
    try:
        obj = json.loads(data)
        if obj["v"] != FORMAT:
            return None
        outputs = tuple(OutputValue(str(t), str(r), bool(x)) for t, r, x in obj["outputs"])
        stdout = [base64.b64decode(p, validate=True) for p in obj["stdout"]]
        stderr = [base64.b64decode(p, validate=True) for p in obj["stderr"]]
        recorded_names = obj["names"]
        root = str(obj["root"])
        tied = obj["tied"] is True
    except (KeyError, TypeError, ValueError):
        return None
    if tied and root != _root_id(base):
        return None
    if [o.tag for o in outputs] != tags:
        return None
    if not all(ids.is_valid_id(o.ref) and o.ref[0] == ids.VALUE for o in outputs):
        return None
    if recorded_names is not None and recorded_names != names:
        return None
    result = Result(thunk_id, 0, outputs, join_text(stdout, base), join_text(stderr, base))
    return Found(result, root != _root_id(base))


def travels(data: bytes) -> bool:
    """Whether a record may serve another root (it is not tied to its own)."""
    try:
        return json.loads(data)["tied"] is False
    except (KeyError, TypeError, ValueError):
        return False


def under_base(tree_path: str, base: str) -> str:
    """A tree path as a path under ``base`` ("/sub/x.o"), or absolute."""
    p = "/" + tree_path
    return p[len(base):] if p.startswith(base + "/") else p


def _root_id(base: str) -> str:
    """Which root made a record, without saying it (a shared store is
    shared with others: paths name users)."""
    return hashlib.sha256(base.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def load(ggcc_dir: str, key: str, store: Store | None = None) -> tuple[bytes | None, bool]:
    """The travel record for ``key`` (see load_small)."""
    return load_small(ggcc_dir, "travel", key, store)


def save(ggcc_dir: str, key: str, data: bytes, store: Store | None = None) -> None:
    save_small(ggcc_dir, "travel", key, data, store)


def load_small(ggcc_dir: str, kind: str, key: str, store: Store | None) -> tuple[bytes | None, bool]:
    """A small record (``kind``: travel, travel-manifests) from its file
    under GGCC_DIR, else from the shared store (kept as that file then),
    and whether it came from the shared store."""
    path = os.path.join(ggcc_dir, kind, key[:2], key)
    try:
        with open(path, "rb") as f:
            return f.read(), False
    except OSError:
        pass
    data = store.get_small(f"{kind}/{key}") if store is not None else None
    if data:
        write_quietly(path, data)
    return data, bool(data)


def save_small(ggcc_dir: str, kind: str, key: str, data: bytes, store: Store | None) -> None:
    write_quietly(os.path.join(ggcc_dir, kind, key[:2], key), data)
    if store is not None:
        store.put_small(f"{kind}/{key}", data)


def write_quietly(path: str, data: bytes) -> None:
    """A small file put in place whole, or not at all: a failure (disk
    full, read-only) costs a later hit, never a step."""
    try:
        atomic_write_bytes(path, data, make_dirs=True)
    except OSError:
        pass  # an optimisation: never fail a step for it
