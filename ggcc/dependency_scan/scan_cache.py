"""What the header scanner remembers between scans, and across daemon restarts.

Two things, each validated before use:

- Directive lists, by content id: a file is reduced to its directives once
  (directives.py), kept in memory and on disk under ``<store>/scan/v2/``,
  so that a restarted daemon does not read and reduce every header again.
  The content id comes from the hash cache (a stat for an unchanged file);
  the bytes reduced are checked against it, so a file changing under the
  scan is never cached under the wrong id.
- Directory listings, for include lookups: "does dir/name exist" is a set
  lookup. A listing is trusted while the directory's inode and mtime are
  unchanged, checked once per scan (creating, renaming or removing a file
  changes its directory's mtime). A listing taken within RACY_WINDOW_S of
  the directory's mtime is used for that scan only: a file created in the
  same clock tick would not change the mtime again.

Scans run concurrently on the daemon's threads: everything shared is a dict
whose single operations are atomic, and every value is immutable.
"""

from __future__ import annotations

import marshal
import os
import time

from ggcc.base.fsutil import atomic_write_bytes
from ggcc.dependency_scan.directives import Directive, extract
from ggcc.formats import ids
from ggcc.storage.hash_cache import HashCache

RACY_WINDOW_S = 2.0
_FORMAT = "v2"

Listing = tuple[int, int, frozenset[str]]  # (inode, mtime_ns, names of non-directories)
MISSING: frozenset[str] = frozenset()  # the listing of a directory that does not exist (one object)
Loaded = tuple[str, str, tuple[Directive, ...]]  # (content id, include guard, directives)


class FileChanged(Exception):
    """A file changed while the scan read it."""


class ScanCache:
    def __init__(self, store_root: str | None, hashes: HashCache) -> None:
        self.hashes = hashes
        self._dir = os.path.join(store_root, "scan", _FORMAT) if store_root else None
        self._directives: dict[str, tuple[str, tuple[Directive, ...]]] = {}
        self._listings: dict[str, Listing] = {}
        self.configs: dict[str, object] = {}  # flag-set key -> scanner.Config (headers.py fills it)

    def session(self) -> ScanSession:
        return ScanSession(self)

    def directives(self, path: str, cid: str = "") -> Loaded:
        cid = cid or self.hashes.file_id(path)
        hit = self._directives.get(cid)
        if hit is None:
            hit = self._from_disk(cid)
        if hit is None:
            with open(path, "rb") as f:
                data = f.read()
            if ids.value_id_of_bytes(data) != cid:
                raise FileChanged(path)
            hit = extract(data)
            self._to_disk(cid, hit)
        self._directives[cid] = hit
        return cid, hit[0], hit[1]

    def _entry(self, cid: str) -> str | None:
        return os.path.join(self._dir, cid[-2:], cid) if self._dir else None

    def _from_disk(self, cid: str) -> tuple[str, tuple[Directive, ...]] | None:
        p = self._entry(cid)
        if p is None:
            return None
        try:
            with open(p, "rb") as f:
                value = marshal.loads(f.read())
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
                and isinstance(value[1], tuple)):
            return None
        return value

    def _to_disk(self, cid: str, value: tuple[str, tuple[Directive, ...]]) -> None:
        p = self._entry(cid)
        if p is None:
            return
        try:
            atomic_write_bytes(p, marshal.dumps(value), make_dirs=True)
        except (OSError, ValueError):
            pass  # a cache: never fail a scan for it

    def listing(self, d: str, checked: dict[str, frozenset[str]]) -> frozenset[str]:
        """Names of the non-directories in d (empty if d is missing)."""
        hit = checked.get(d)
        if hit is not None:
            return hit
        try:
            st = os.stat(d)
        except OSError:
            checked[d] = MISSING
            return MISSING
        known = self._listings.get(d)
        if known is not None and known[0] == st.st_ino and known[1] == st.st_mtime_ns:
            checked[d] = known[2]
            return known[2]
        names: set[str] = set()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        if not e.is_dir():
                            names.add(e.name)
                    except OSError:
                        pass
        except OSError:
            pass
        value = frozenset(names)
        if time.time() - st.st_mtime_ns / 1e9 >= RACY_WINDOW_S:
            self._listings[d] = (st.st_ino, st.st_mtime_ns, value)
        else:
            self._listings.pop(d, None)
        checked[d] = value
        return value


class ScanSession:
    """One scan's view: each directory and each file is checked at most once."""

    def __init__(self, cache: ScanCache) -> None:
        self.cache = cache
        self._checked: dict[str, frozenset[str]] = {}
        self._ids: dict[str, str] = {}

    def listing(self, d: str) -> frozenset[str]:
        return self.cache.listing(d, self._checked)

    @property
    def ids(self) -> dict[str, str]:
        """Every file's content id as this scan saw it, by host path."""
        return self._ids

    def file_id(self, path: str) -> str:
        cid = self._ids.get(path)
        if cid is None:
            cid = self._ids[path] = self.cache.hashes.file_id(path)
        return cid

    def load(self, path: str) -> Loaded:
        return self.cache.directives(path, self.file_id(path))
