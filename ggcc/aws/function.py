"""The Lambda function: run the thunks a request names, with ggcc's one executor.

Handler: ``ggcc.aws.function.handler``. The function holds no compiler:
every thunk carries its toolchain as inputs and runs it through the
toolchain's own loader (dependency_scan/toolchain.py), so the Python
runtime's image only has to run Python.

Per invocation, each thunk goes through remote_exec.run_fetched, as on a
`ggcc worker`: fetched with its inputs (in parallel, each checked against
its id), run, outputs and result stored before the answer is sent. The
local store in /tmp is the blob cache: it stays across warm invocations
and is trimmed, least recently used first, to a size bound. Several thunks
of one request run at once when the function has the cores. A thunk that
cannot be set up comes back with exit code -1 and the reason, and the
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

from ggcc.aws import protocol
from ggcc.execution.remote_exec import run_fetched
from ggcc.execution.sandbox import SandboxPool
from ggcc.formats.result import Result
from ggcc.storage import upkeep
from ggcc.storage.backend import StorageError
from ggcc.storage.local_store import LocalStore
from ggcc.storage.tiered import TieredStore

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
        self.cached_bytes = upkeep.usage(self.local).total_bytes
        self.lock = threading.Lock()

    def store(self, uri: str) -> TieredStore:
        from ggcc.storage.uri import open_backend

        # The function's own GGCC_STORAGE (a redis:// URI with its password)
        # wins over the request's, which never carries credentials.
        uri = os.environ.get("GGCC_STORAGE") or uri
        with self.lock:
            s = self.stores.get(uri)
            if s is None:
                s = self.stores[uri] = TieredStore(LocalStore(self.root), open_backend(uri))
            return s

    def added(self, n: int) -> None:
        with self.lock:
            self.cached_bytes += n
            over = self.cached_bytes > self.limit
        if over:
            upkeep.trim(self.local, int(self.limit * _TRIM_TO))
            with self.lock:
                self.cached_bytes = upkeep.usage(self.local).total_bytes


_warm: _Warm | None = None


def handler(event: Any, context: Any) -> bytes:
    """The entry point Lambda calls; returns the answer, JSON bytes."""
    global _warm
    t0 = time.perf_counter()
    cold = _warm is None
    if _warm is None:
        _warm = _Warm()
    warm = _warm
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
    parts = [_answer_part(store, r, budget) for r in results]
    # Bytes go back as they are (the runtime client JSON-encodes anything else).
    return protocol.encode_answer(parts, (time.perf_counter() - t0) * 1e3, cold)


def _run_one(warm: _Warm, store: TieredStore, job: protocol.Job, strict: bool) -> Result:
    run = run_fetched(store, job.thunk_id, job.resolved, warm.pool, strict, warm.fetchers)
    warm.added(run.fetched_bytes)
    return run.result


def _answer_part(store: TieredStore, r: Result, budget: int) -> bytes:
    """The result's JSON, or (too big for the answer) a reference to it stored as a blob."""
    data = r.to_json()
    if len(data) <= budget:
        return data
    try:
        ref = store.local.put_bytes(data)
        store.push_blobs([ref])
        return protocol.stored_part(ref)
    except (StorageError, OSError) as e:
        # Keep the exit code and the reason; drop the logs that do not fit.
        note = f"\n[ggcc: the output was too large to return and could not be stored: {e}]\n".encode()
        return Result(r.thunk_id, -1, (), r.stdout[: budget // 4], r.stderr[: budget // 4] + note,
                      r.error or "the result was too large to return", r.timings_ms).to_json()


def _cache_limit(root: str) -> int:
    """GGCC_LAMBDA_CACHE_MB, or 70% of the file system /tmp is on."""
    mb = os.environ.get("GGCC_LAMBDA_CACHE_MB")
    if mb:
        return int(float(mb) * (1 << 20))
    os.makedirs(root, exist_ok=True)
    st = os.statvfs(root)
    return int(st.f_blocks * st.f_frsize * 0.7)
