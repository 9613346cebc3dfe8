"""Running a thunk named by another machine: what `ggcc worker` and the
Lambda function share, around the one executor.

The thunk and every blob its run needs are fetched from the shared store,
each checked against its id. The thunk runs with ``execute``. A successful
run's outputs, then its result, go to the shared store before the run
counts as done, so whoever is told "done" finds them there; a failure to
store them is reported, never swallowed. Problems that are not the code's
(the thunk or an input missing, the shared store unreachable) come back as
a Result with exit code -1 and the reason; an input missing from the
shared store starts the reason with MISSING_INPUT, so the caller can
upload again and retry.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass

from ggcc.base.errors import GgccError
from ggcc.execution.executor import blobs_needed, execute
from ggcc.execution.sandbox import SandboxPool
from ggcc.formats import ids
from ggcc.formats.result import Result
from ggcc.storage.backend import StorageError
from ggcc.storage.tiered import TieredStore

MISSING_INPUT = "missing from the shared store"


@dataclass(frozen=True)
class RemoteRun:
    result: Result
    fetched_bytes: int  # brought into the local store for this run


def run_fetched(
    store: TieredStore,
    thunk_id: str,
    resolved: dict[str, str],
    sandboxes: SandboxPool,
    strict: bool,
    fetchers: Executor | None = None,
) -> RemoteRun:
    t0 = time.perf_counter()
    fetched = 0
    try:
        if store.fetch_all([thunk_id]):
            return RemoteRun(Result(thunk_id, -1, error=f"{MISSING_INPUT}: the thunk {thunk_id}"), 0)
        thunk = store.local.load_thunk(thunk_id)
        wanted = sorted(set(blobs_needed(thunk, resolved)))
        fetched = sum(ids.id_size(b) for b in wanted if not store.local.has(b))
        missing = store.fetch_all(wanted, fetchers)
        if missing:
            return RemoteRun(Result(thunk_id, -1, error=f"{MISSING_INPUT}: input {missing[0]}"), fetched)
    except (GgccError, StorageError, OSError) as e:
        return RemoteRun(Result(thunk_id, -1, error=f"cannot fetch the thunk's inputs: {e}"), fetched)
    fetch_ms = (time.perf_counter() - t0) * 1e3
    # The local store alone: execute() keeps the result there, and the
    # shared store gets it below, where a failure can be reported.
    result = execute(thunk, resolved, store.local, sandboxes, strict)
    result.timings_ms["fetch"] = fetch_ms
    if not result.ok:
        return RemoteRun(result, fetched)
    try:
        store.push_blobs([o.ref for o in result.outputs])
        store.shared.put_small(f"results/{ids.store_key(result.thunk_id)}", result.to_json())
    except StorageError as e:
        return RemoteRun(Result(thunk_id, -1, error=f"cannot store the outputs: {e}"), fetched)
    return RemoteRun(result, fetched + sum(ids.id_size(o.ref) for o in result.outputs))
