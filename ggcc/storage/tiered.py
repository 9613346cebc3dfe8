"""The local store in front of a shared one: read-through, write-back.

Results (thunk id -> outputs, exit code, stdout, stderr), their output blobs
and launcher manifests go to the shared store, so another machine or a CI
runner gets hits from this one's work. What is there is asked of the shared
store itself (a batched check), never of a local "already uploaded" index,
so an emptied bucket cannot break a build. Every download is hashed before
use; a mismatch is counted and the object is never used.

The shared store may fail: each call gets a few tries with jittered backoff,
then the tier is off for the rest of this process and the build carries on
with the local store, counted in ``ggcc stats``. It never fails a build.
A store that refuses writes from these credentials (a read-only token, as
teams give developers while CI writes) is read and no longer written,
said once.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from ggcc.base import stats
from ggcc.base.stats import Event
from ggcc.formats import ids
from ggcc.formats.result import Result
from ggcc.storage.backend import Backend, ReadOnly, StorageError
from ggcc.storage.local_store import CorruptBlob, LocalStore

T = TypeVar("T")
_TRIES = 3
_FIRST_DELAY_S = 0.05


# After the shared store fails (three tries), it is left alone this long:
# a launcher process ends sooner, the daemon tries again later.
RETRY_AFTER_S = 30.0


class TieredStore:
    """A Store (store.py): the local store, with a shared one behind it."""

    def __init__(self, local: LocalStore, backend: Backend) -> None:
        self.local = local
        self.backend = backend
        self._down_until = 0.0  # monotonic time until which the shared tier is skipped
        self._lock = threading.Lock()
        self._uploading: dict[str, threading.Event] = {}  # blob key -> set when its upload ends
        self._from_shared: set[str] = set()  # thunks whose result was fetched, until a step asks (took_from_shared)
        self.read_only = False  # the store refused a write for want of permission: reads only

    @property
    def root(self) -> str:
        return self.local.root

    @property
    def shared(self) -> Backend:
        return self.backend

    @property
    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    # -- calling the shared store --------------------------------------------
    def _call(self, fn: Callable[..., T], *args: object) -> T:
        if self._down:
            raise StorageError(f"shared store is off for {RETRY_AFTER_S:.0f} s after failing")
        delay = _FIRST_DELAY_S
        last: StorageError | None = None
        for attempt in range(_TRIES):
            try:
                return fn(*args)
            except ReadOnly as e:  # not an outage: no retries, and reads go on
                self._refused(e)
                raise
            except StorageError as e:
                last = e
                if attempt + 1 < _TRIES:
                    time.sleep(delay * (0.5 + random.random()))
                    delay *= 4
        with self._lock:
            if not self._down:
                self._down_until = time.monotonic() + RETRY_AFTER_S
                stats.record(self.root, (Event.ERROR, f"storage: {last}"), Event.STORAGE_FALLBACK)
        assert last is not None
        raise last

    def _refused(self, e: ReadOnly) -> None:
        with self._lock:
            if self.read_only:
                return
            self.read_only = True
        stats.record(self.root, (Event.ERROR, f"storage: {e}: its results are used here, this machine's are "
                                              "not shared (credentials that may write share them)"))

    # -- blobs ----------------------------------------------------------------
    def fetch_blob(self, id_: str) -> bool:
        """Download a blob into the local store, checked against its id."""
        key = ids.store_key(id_)
        tmp = self.local.temp_for_blob(id_)
        try:
            if not self._call(self.backend.get_file, f"blobs/{key}", tmp):
                return False
            got = ids.hash_file(tmp, id_[0])
            stats.record(self.root, (Event.BYTES_DOWN, os.path.getsize(tmp)))
            if got[1:] != id_[1:]:
                # Never used; removed there too, so that the next push of
                # the blob (a run of the step here) puts the right bytes back.
                stats.record(self.root, Event.CORRUPT_BLOB)
                try:
                    self._call(self.backend.delete, f"blobs/{key}")
                except StorageError:
                    pass
                return False
            self.local.adopt_file(tmp, id_)
            return True
        except StorageError:
            return False
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def push_blobs(self, blob_ids: list[str]) -> None:
        """Upload the blobs the shared store does not have, each once, in parallel.

        Concurrent pushes of the same blob (fifty compiles needing one
        compiler) upload it once: the others wait for that upload."""
        if self.read_only:
            raise ReadOnly(f"{self.backend.describe()}: writes refused earlier")
        keys = {f"blobs/{ids.store_key(i)}": i for i in blob_ids}
        missing = self._call(self.backend.missing, list(keys))
        if not missing:
            return
        mine: list[str] = []
        theirs: list[threading.Event] = []
        with self._lock:
            for k in missing:
                ev = self._uploading.get(k)
                if ev is None:
                    self._uploading[k] = threading.Event()
                    mine.append(k)
                else:
                    theirs.append(ev)
        try:
            for k in mine:  # nothing leaves this machine unchecked
                self.local.check(keys[k])
            if mine:
                self._call(self.backend.put_files, [(k, self.local.blob_path(keys[k])) for k in mine])
                stats.record(self.root, (Event.BYTES_UP, sum(ids.id_size(keys[k]) for k in mine)))
        finally:
            with self._lock:
                for k in mine:
                    self._uploading.pop(k).set()
        for ev in theirs:
            ev.wait(300)
        if theirs:
            still: list[str] = self._call(self.backend.missing, [k for k in missing if k not in mine])
            if still:
                raise StorageError("a concurrent upload of the same blobs failed")

    # -- results ----------------------------------------------------------------
    def get_result(self, thunk_id: str) -> Result | None:
        res = self.local.get_result(thunk_id)
        if res is not None or self._down:
            return res
        key = f"results/{ids.store_key(thunk_id)}"
        try:
            data = self._call(self.backend.get_small, key)
        except StorageError:
            return None
        if data is None:
            return None
        try:
            remote = Result.from_json(data)
        except ValueError:
            remote = None
        if remote is None or remote.thunk_id != thunk_id or not remote.ok:
            stats.record(self.root, (Event.ERROR, f"storage-corrupt {key}"))
            try:
                self._call(self.backend.delete, key)  # the next run here puts the right one back
            except StorageError:
                pass
            return None
        if not self.adopt_result(remote):
            return None
        self.came_from_shared(thunk_id)
        return self.local.get_result(thunk_id)

    def came_from_shared(self, thunk_id: str) -> None:
        stats.record(self.root, Event.REMOTE_HIT)
        with self._lock:
            if len(self._from_shared) > 10_000:  # never asked about (a scheduler's hit, say): forget
                self._from_shared.clear()
            self._from_shared.add(thunk_id)

    def took_from_shared(self, thunk_id: str) -> bool:
        with self._lock:
            if thunk_id in self._from_shared:
                self._from_shared.discard(thunk_id)
                return True
        return False

    def fetch_all(self, blob_ids: list[str], pool: Executor | None = None) -> list[str]:
        """Bring the blobs the local store lacks from the shared one, each
        checked against its id (in parallel with ``pool``); the ids the
        shared store does not have either."""
        missing = [b for b in blob_ids if not self.local.has(b)]
        got = list(pool.map(self.fetch_blob, missing)) if pool is not None else [self.fetch_blob(b) for b in missing]
        return [b for b, ok in zip(missing, got) if not ok]

    def adopt_result(self, result: Result) -> bool:
        """Keep locally a result that is in the shared store already (run
        by a worker, a Lambda function or another machine): its outputs
        fetched and checked, the result written here only. False if an
        output is gone from the shared store."""
        if self.fetch_all([o.ref for o in result.outputs]):
            return False
        self.local.put_result(result)
        return True

    def put_result(self, result: Result) -> None:
        self.local.put_result(result)
        if self._down or self.read_only:
            return
        try:
            # Blobs first, the result last: a reader that finds the result
            # finds its outputs.
            self.push_blobs([o.ref for o in result.outputs])
            self._call(self.backend.put_small, f"results/{ids.store_key(result.thunk_id)}", result.to_json())
        except (StorageError, CorruptBlob):  # the result is not shared; a damaged output is gone, so no hit here either
            pass

    # -- launcher manifests -------------------------------------------------------
    def get_small(self, key: str) -> bytes | None:
        if self._down:
            return None
        try:
            return self._call(self.backend.get_small, key)
        except StorageError:
            return None

    def put_small(self, key: str, data: bytes) -> None:
        if self._down or self.read_only:
            return
        try:
            self._call(self.backend.put_small, key, data)
        except StorageError:
            pass
