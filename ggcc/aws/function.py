"""The Lambda function: run the thunks a request names, with ggcc's one executor.

Handler: ``ggcc.aws.function.handler``. The function holds no compiler:
every thunk carries its toolchain as inputs and runs it through the
toolchain's own loader (dependency_scan/toolchain.py), so the Python
runtime's image only has to run Python.

Per invocation: each thunk and its inputs are fetched from the shared
storage (in parallel, each checked against its id) into a blob cache in
/tmp, which stays across warm invocations and is trimmed, least recently
used first, to a size bound; the thunks run (several at once when the
function has the cores); outputs and results go to the shared storage
before the answer is sent, so a result in an answer always has its outputs
stored. A thunk that cannot be set up (an input missing from storage,
storage unreachable) comes back with exit code -1 and the reason, and the
engine runs it elsewhere.

Set ``GGCC_SANDBOX=strict`` in the function's environment to run each
thunk under bubblewrap (where the function's host has it, e.g. the test
harness); Lambda itself has no user namespaces.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ggcc import ids
from ggcc.aws import protocol
from ggcc.errors import GgccError
from ggcc.executor import execute
from ggcc.local_store import LocalStore
from ggcc.result import Result
from ggcc.sandbox import SandboxPool
from ggcc.storage.backend import StorageError
from ggcc.storage.tiered import TieredStore
from ggcc.thunk import Thunk

_FETCH_THREADS = 16
_TRIM_TO = 0.8  # of the bound, so that trims are rare


class _Warm:
    """What outlives one invocation in a warm sandbox: stores and the blob cache."""

    def __init__(self) -> None:
        self.root = os.environ.get("GGCC_LAMBDA_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "ggcc")
        self.local = LocalStore(self.root)
        self.pool = SandboxPool(self.local)
        self.fetchers = ThreadPoolExecutor(_FETCH_THREADS, thread_name_prefix="ggcc-fetch")
        self.stores: dict[str, TieredStore] = {}
        self.limit = _cache_limit(self.root)
        self.cached_bytes = self.local.stats().total_bytes
        self.lock = threading.Lock()
        self.invocations = 0

    def store(self, uri: str) -> TieredStore:
        from ggcc.storage.uri import open_backend

        # The function's own GGCC_STORAGE (a redis:// URI with its password)
        # wins over the request's, which never carries credentials.
        uri = os.environ.get("GGCC_STORAGE") or uri
        with self.lock:
            s = self.stores.get(uri)
            if s is None:
                s = self.stores[uri] = TieredStore(self.root, open_backend(uri))
            return s

    def added(self, n: int) -> None:
        with self.lock:
            self.cached_bytes += n
            over = self.cached_bytes > self.limit
        if over:
            self.local.trim(int(self.limit * _TRIM_TO))
            with self.lock:
                self.cached_bytes = self.local.stats().total_bytes


_warm: _Warm | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The entry point Lambda calls; returns the answer as a JSON object."""
    global _warm
    import json

    t0 = time.perf_counter()
    cold = _warm is None
    if _warm is None:
        _warm = _Warm()
    warm = _warm
    warm.invocations += 1
    storage_uri, jobs = protocol.decode_request(event)
    store = warm.store(storage_uri)
    strict = os.environ.get("GGCC_SANDBOX") == "strict"
    width = min(len(jobs), max(1, os.cpu_count() or 1))
    if width == 1:
        results = [_run_one(warm, store, j, strict) for j in jobs]
    else:
        with ThreadPoolExecutor(width, thread_name_prefix="ggcc-run") as runners:
            results = list(runners.map(lambda j: _run_one(warm, store, j, strict), jobs))
    budget = protocol.inline_budget(len(results))
    answer: list[Result | str] = [_inline_or_stored(store, r, budget) for r in results]
    data = protocol.encode_answer(answer, (time.perf_counter() - t0) * 1e3, cold)
    out: dict[str, Any] = json.loads(data)
    return out


def _run_one(warm: _Warm, store: TieredStore, job: protocol.Job, strict: bool) -> Result:
    t0 = time.perf_counter()
    try:
        thunk = _fetch_thunk(warm, store, job.thunk_id)
        wanted = sorted({i.ref for i in thunk.all_inputs() if not i.is_thunk} | set(job.resolved.values()))
        missing = [r for r in wanted if not store.has(r)]
        fetched = list(warm.fetchers.map(store.fetch_blob, missing))
        warm.added(sum(ids.id_size(r) for r in missing))
        for ref, ok in zip(missing, fetched):
            if not ok:
                return Result(job.thunk_id, -1, error=f"input {ref} is not in the shared storage {store.backend.describe()}")
    except (GgccError, StorageError, OSError) as e:
        return Result(job.thunk_id, -1, error=f"cannot fetch the thunk's inputs: {e}")
    fetch_ms = (time.perf_counter() - t0) * 1e3
    # The plain local store: execute() stores the result there; storing it
    # in the shared storage is done below, where a failure can be reported.
    result = execute(thunk, job.resolved, warm.local, warm.pool, strict)
    result.timings_ms["fetch"] = fetch_ms
    if not result.ok:
        return result
    try:
        store.push_blobs([o.ref for o in result.outputs])
        store.backend.put_small(f"results/{ids.store_key(result.thunk_id)}", result.to_json())
    except StorageError as e:
        return Result(job.thunk_id, -1, error=f"cannot store the outputs: {e}")
    warm.added(sum(ids.id_size(o.ref) for o in result.outputs))
    return result


def _fetch_thunk(warm: _Warm, store: TieredStore, thunk_id: str) -> Thunk:
    if not store.has(thunk_id) and not store.fetch_blob(thunk_id):
        raise GgccError(f"thunk {thunk_id} is not in the shared storage {store.backend.describe()}")
    return warm.local.load_thunk(thunk_id)


def _inline_or_stored(store: TieredStore, r: Result, budget: int) -> Result | str:
    data = r.to_json()
    if len(data) <= budget:
        return r
    try:
        ref = store.put_bytes(data)
        store.push_blobs([ref])
        return ref
    except (StorageError, OSError) as e:
        # Keep the exit code and the reason; drop the logs that do not fit.
        note = f"\n[ggcc: the output was too large to return and could not be stored: {e}]\n".encode()
        return Result(r.thunk_id, -1, (), r.stdout[: budget // 4], r.stderr[: budget // 4] + note,
                      r.error or "the result was too large to return", r.timings_ms)


def _cache_limit(root: str) -> int:
    """GGCC_LAMBDA_CACHE_MB, or 70% of the file system /tmp is on."""
    mb = os.environ.get("GGCC_LAMBDA_CACHE_MB")
    if mb:
        return int(float(mb) * (1 << 20))
    os.makedirs(root, exist_ok=True)
    st = os.statvfs(root)
    return int(st.f_blocks * st.f_frsize * 0.7)
