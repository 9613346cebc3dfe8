"""Remembering file hashes so an unchanged file is never hashed twice.

An entry is keyed by (device, inode) and valid while the file's size,
mtime_ns and ctime_ns are unchanged. ctime is in the check as well as mtime
because tools (tar, cp -p, touch -d) set mtime back; nothing can set ctime.

Entries live in memory and, across processes, one small file per inode
under ``<store>/hashes/``: a lookup is one open and read, a write one
rename, and concurrent writers cannot corrupt each other.

A file modified within the file system's timestamp granularity after being
hashed would keep its mtime (the "racy git" problem), so a hash is only
recorded once the file's timestamps are at least RACY_WINDOW_S old.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from ggcc.base.fsutil import atomic_write_bytes
from ggcc.formats import ids

RACY_WINDOW_S = 1.0


class HashCache:
    def __init__(self, store_root: str | None) -> None:
        self._dir = os.path.join(store_root, "hashes") if store_root else None
        self._mem: dict[tuple[int, int], tuple[int, int, int, str]] = {}
        self.hashed_bytes = 0  # how much this process actually read to hash

    def file_id(self, path: str, hash_with: Callable[[str], str] = ids.hash_file) -> str:
        """The id of the file's content; ``hash_with`` hashes it when it is
        not known (LocalStore.put_file also stores it, a large file in the
        same read)."""
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        sig = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = self._mem.get(key)
        if hit is not None and hit[:3] == sig:
            return hit[3]
        entry_path = self._entry_path(key)
        if entry_path is not None:
            hit = _read_entry(entry_path)
            if hit is not None and hit[:3] == sig:
                self._mem[key] = hit
                return hit[3]
        id_ = hash_with(path)
        self.hashed_bytes += st.st_size
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != sig or ids.id_size(id_) != st.st_size:
            return id_  # changed while we read it: correct now, not cacheable
        newest = max(st.st_mtime_ns, st.st_ctime_ns) / 1e9
        if time.time() - newest >= RACY_WINDOW_S:
            self._mem[key] = (*sig, id_)
            if entry_path is not None:
                try:
                    atomic_write_bytes(entry_path, f"{sig[0]} {sig[1]} {sig[2]} {id_}\n".encode(), make_dirs=True)
                except OSError:
                    pass  # the cache is an optimisation; never fail for it
        return id_

    def _entry_path(self, key: tuple[int, int]) -> str | None:
        if self._dir is None:
            return None
        dev, ino = key
        return os.path.join(self._dir, f"{ino & 0xFF:02x}", f"{dev:x}-{ino:x}")


def _read_entry(path: str) -> tuple[int, int, int, str] | None:
    try:
        with open(path, "rb") as f:
            parts = f.read(200).split()
        if len(parts) != 4:
            return None
        id_ = parts[3].decode("ascii")
        if not ids.is_valid_id(id_):
            return None
        return int(parts[0]), int(parts[1]), int(parts[2]), id_
    except (OSError, ValueError, UnicodeDecodeError):
        return None
