"""What one process remembers of the local store, so that a hit costs few
system calls, and why that memory is safe.

``Presence``: the blob ids seen present. Blobs leave the store only by trim,
verify, clear or the removal of a damaged one, and each of those, in any
process, rewrites the ``removals`` stamp: what is remembered is forgotten
when the stamp changes (looked at at most every REMOVALS_CHECK_S).

``Checked``: the blob files whose bytes this process has checked against
their id, or written itself, with their (inode, size, mtime, ctime): any
write to a file changes its ctime, which nothing can set back, so an
unchanged signature means unchanged bytes.
"""

from __future__ import annotations

import os
import time

from ggcc.base.fsutil import atomic_write_bytes

REMOVALS = "removals"
REMOVALS_CHECK_S = 1.0
_LIMIT = 1_000_000  # entries remembered (~100 MB at most), then forgotten all at once

_Sig = tuple[int, int, int, int]


def _sig(st: os.stat_result) -> _Sig:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class Presence:
    def __init__(self, root: str) -> None:
        self.root = root
        self._ids: set[str] = set()
        self._until = 0.0  # until then, no look at the removals stamp
        self._stamp: bytes | None = None  # the removals stamp's text that _ids goes with

    def knows(self, id_: str) -> bool:
        """Whether ``id_`` was seen present, and nothing was removed since."""
        return id_ in self._ids and self._holds()

    def seen(self, id_: str) -> None:
        if len(self._ids) >= _LIMIT:
            self._ids.clear()
        self._ids.add(id_)

    def gone(self, id_: str) -> None:
        self._ids.discard(id_)

    def forget(self) -> None:
        self._ids.clear()
        self._until = 0.0

    def removed(self, *ids_: str) -> None:
        """Blobs were removed (these, or any number if none is named):
        forget them here, and tell other processes."""
        for i in ids_:
            self._ids.discard(i)
        if not ids_:
            self._ids.clear()
        try:
            os.makedirs(self.root, exist_ok=True)
            atomic_write_bytes(os.path.join(self.root, REMOVALS), b"%d %d\n" % (time.time_ns(), os.getpid()))
        except OSError:
            pass  # a store that cannot be written has had nothing removed from it either

    def _holds(self) -> bool:
        now = time.monotonic()
        if now < self._until:
            return True
        self._until = now + REMOVALS_CHECK_S
        # Its text, not its stat: a freed inode number comes back, and two
        # rewrites within one tick of the file system's clock share an mtime.
        try:
            with open(os.path.join(self.root, REMOVALS), "rb") as f:
                stamp: bytes | None = f.read(64)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return True
        self._ids.clear()
        self._stamp = stamp
        return False


class Checked:
    def __init__(self) -> None:
        self._sigs: dict[str, _Sig] = {}  # blob path -> its signature when its bytes were known right

    def holds(self, path: str, st: os.stat_result) -> bool:
        """Whether path's bytes are known right, as ``st`` finds it."""
        return self._sigs.get(path) == _sig(st)

    def remember(self, path: str, before: os.stat_result) -> None:
        """Remember path's bytes as right if it did not change while read."""
        try:
            after = os.stat(path)
        except FileNotFoundError:
            return
        if _sig(after) == _sig(before):
            self._put(path, after)

    def remember_good(self, path: str) -> None:
        """path now holds bytes known to be its id's (this process wrote them)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        self._put(path, st)

    def linked(self, path: str, st: os.stat_result) -> None:
        """A hard link to path was just made (``st``: its stat after):
        making it changed the inode's ctime, not its bytes."""
        known = self._sigs.get(path)
        if known is not None and known[:3] == _sig(st)[:3]:
            self._sigs[path] = _sig(st)

    def drop(self, *paths: str) -> None:
        for p in paths:
            self._sigs.pop(p, None)

    def forget(self) -> None:
        self._sigs.clear()

    def _put(self, path: str, st: os.stat_result) -> None:
        if len(self._sigs) >= _LIMIT:
            self._sigs.clear()
        self._sigs[path] = _sig(st)
