"""Putting a thunk's inputs where a remote engine runs it from, for every
remote engine (workers and Lambda: the shared store; REAPI: the farm's CAS).

Blobs the shared store was seen to hold in the last ``ttl_s`` are not asked
about again: a compile's ~300 toolchain and header blobs would cost 300
HEADs (or a pipelined EXISTS) per thunk. The memory can be wrong (a bucket
emptied, a Redis restarted): the remote side then answers that an input is
missing (execution/remote_exec.MISSING_INPUT), and the engine forgets the
thunk's blobs and sends it once more after a full check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ggcc.storage.store import Store

PRESENT_TTL_S = 600.0  # how long a blob seen in the shared store is believed to be there
_LIMIT = 1_000_000  # blobs remembered at most


class Uploads:
    def __init__(self, store: Store, ttl_s: float = PRESENT_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._seen: dict[str, float] = {}  # blob id -> when the shared store was known to hold it
        self._lock = threading.Lock()

    def push(self, blobs: list[str], send: Callable[[list[str]], None] | None = None) -> None:
        """Upload what the remote side lacks: ``send`` is given the blobs not
        seen there lately (the shared store's push_blobs by default; the
        REAPI engine sends to the farm's CAS). Its error goes to the caller."""
        now = time.monotonic()
        with self._lock:
            unknown = [b for b in dict.fromkeys(blobs) if now - self._seen.get(b, -self.ttl_s) >= self.ttl_s]
        if unknown:
            (send or self.store.push_blobs)(unknown)
            with self._lock:
                if len(self._seen) > _LIMIT:  # a daemon that lives for weeks: forget all, ask again
                    self._seen.clear()
                for b in unknown:
                    self._seen[b] = now

    def forget(self, blobs: list[str]) -> None:
        """Ask about these again next time: the remote side did not find one."""
        with self._lock:
            for b in blobs:
                self._seen.pop(b, None)
