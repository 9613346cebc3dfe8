"""The local store's upkeep: its size, eviction of the least recently used
(recency is each file's atime, see local_store.py), a full check of every
blob and result, and clearing it (`ggcc cache`)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ggcc.formats import ids
from ggcc.formats.result import Result
from ggcc.storage.local_store import TMP_PREFIX, LocalStore

_TRIM_INTERVAL_S = 60.0
_TRIM_TARGET = 0.9  # trim to 90% of the limit so that trims are rare


@dataclass(frozen=True)
class StoreStats:
    blobs: int
    blob_bytes: int
    results: int
    result_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.blob_bytes + self.result_bytes


def usage(store: LocalStore) -> StoreStats:
    """What the local store holds: blobs and results, counted and sized."""
    nb = bb = nr = rb = 0
    for _, size, _, is_result in _scan(store):
        if is_result:
            nr += 1
            rb += size
        else:
            nb += 1
            bb += size
    return StoreStats(nb, bb, nr, rb)


def trim(store: LocalStore, limit: int) -> tuple[int, int]:
    """Evict least recently used files until the store fits in 90% of
    ``limit``; returns (files removed, bytes freed). No-op under the limit."""
    entries = list(_scan(store))
    total = sum(e[1] for e in entries)
    if total <= limit:
        return 0, 0
    target = int(limit * _TRIM_TARGET)
    entries.sort(key=lambda e: e[2])
    removed = freed = 0
    for path, size, _, _ in entries:
        if total <= target:
            break
        store.remove_quiet(path)
        total -= size
        removed += 1
        freed += size
    if removed:
        store.removed()
    _clean_tmp(store)
    return removed, freed


def maybe_trim(store: LocalStore, limit: int) -> None:
    """Trim at most once a minute across all processes (a stamp file)."""
    stamp = os.path.join(store.root, "last-trim")
    try:
        if time.time() - os.stat(stamp).st_mtime < _TRIM_INTERVAL_S:
            return
    except FileNotFoundError:
        pass
    os.makedirs(store.root, exist_ok=True)
    with open(stamp, "wb"):
        pass
    trim(store, limit)


def verify(store: LocalStore) -> tuple[int, int]:
    """Rehash every blob and parse every result; remove the bad ones.
    Returns (files checked, files removed)."""
    checked = removed = 0
    for path, _, _, is_result in list(_scan(store)):
        checked += 1
        name = os.path.basename(path)
        if is_result:
            try:
                with open(path, "rb") as f:
                    ok = Result.from_json(f.read()).thunk_id[1:] == name
            except (OSError, ValueError):
                ok = False
        else:
            key = name[:-2] if name.endswith(".x") else name
            try:
                ok = ids.hash_file(path)[1:] == key
            except OSError:
                ok = False
        if not ok:
            store.remove_quiet(path)
            removed += 1
    if removed:
        store.removed()
    return checked, removed


def clear(store: LocalStore) -> None:
    """Remove every blob and result. Other processes (a running daemon)
    may be using the store: tmp/ holds their sandboxes and files being
    written, so only what was left there by dead processes goes."""
    for sub in ("blobs", "results", "hashes", "travel", "travel-manifests"):
        shutil.rmtree(os.path.join(store.root, sub), ignore_errors=True)
    _clean_tmp(store)
    store.forget()  # what this process remembers of the store, its directories too
    store.removed()


def _scan(store: LocalStore) -> Iterator[tuple[str, int, int, bool]]:
    """(path, size, atime_ns (recency), is_result) for every blob and result file."""
    for sub, is_result in (("blobs", False), ("results", True)):
        top = os.path.join(store.root, sub)
        try:
            shards = list(os.scandir(top))
        except FileNotFoundError:
            continue
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            for e in os.scandir(shard.path):
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if e.name.startswith(TMP_PREFIX):
                    # Left by a writer that died, if older than an hour.
                    if time.time() - st.st_mtime > 3600:
                        store.remove_quiet(e.path)
                    continue
                yield e.path, st.st_size, st.st_atime_ns, is_result


def _clean_tmp(store: LocalStore, older_than_s: float = 3600.0) -> None:
    """Remove temporary files and sandboxes left by crashed processes."""
    now = time.time()
    try:
        entries = list(os.scandir(store.tmp))
    except FileNotFoundError:
        return
    for e in entries:
        try:
            if now - e.stat(follow_symlinks=False).st_mtime > older_than_s:
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
        except OSError:
            pass
