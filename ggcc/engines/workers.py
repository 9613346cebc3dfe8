"""The workers engine (GGCC_ENGINE=workers): thunks run by `ggcc worker`s.

For each thunk: its inputs and itself go to the shared store (only what is
missing there, in one batched check), its id goes on the Redis queue, and
the engine waits on the answer with BLPOP, no polling. A failed run comes
back as the worker's Result (compile errors are the compiler's). A thunk
far slower than the ones before it (a worker stuck or overloaded) is put
on the queue a second time and the first answer wins. The thunk
runs here instead, on the local engine, and the reason is counted, when:
no worker is alive (heartbeats), the queue or the shared store cannot be
reached, the answer does not come within GGCC_WORKERS_TIMEOUT seconds
(default 600) or the queue lost the entry, a worker could not set the thunk
up, or its outputs are no longer in the shared store.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ggcc.base import stats
from ggcc.base.stats import Event
from ggcc.engines import EngineSettings
from ggcc.engines.local import LocalEngine
from ggcc.engines.stragglers import Stragglers
from ggcc.engines.uploads import Uploads
from ggcc.execution.executor import blobs_needed
from ggcc.execution.remote_exec import MISSING_INPUT
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk
from ggcc.storage.store import Store
from ggcc.workers.queue import EntryLost, Queue, open_queue

ALIVE_CHECK_S = 5.0  # how long "no worker is alive" is believed


class WorkersEngine:
    name = "workers"

    def __init__(self, store: Store, queue: Queue, in_flight: int, local: LocalEngine, timeout_s: float,
                 stragglers: Stragglers) -> None:
        self.store = store
        self.queue = queue
        self.local = local
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max(1, in_flight), thread_name_prefix="ggcc-workers")
        self._alive_until = 0.0
        self._alive_lock = threading.Lock()
        self.stragglers = stragglers
        self.uploads = Uploads(store)

    def submit(self, thunk: Thunk, resolved: dict[str, str]) -> Future[Result]:
        return self._pool.submit(self._run, thunk, resolved)

    def _run(self, thunk: Thunk, resolved: dict[str, str]) -> Result:
        why = ""
        try:
            if not self._anyone_alive():
                why = "no-workers"
            else:
                self.store.local.put_thunk(thunk)
                blobs = [thunk.id, *blobs_needed(thunk, resolved)]
                self.uploads.push(blobs)
                result = self._ask(thunk, resolved)
                if result is not None and result.exit_code == -1 and result.error.startswith(MISSING_INPUT):
                    # Believed uploaded, but gone (a Redis restarted empty):
                    # upload again, once, without trusting what was remembered.
                    self.uploads.forget(blobs)
                    self.uploads.push(blobs)
                    result = self._ask(thunk, resolved)
                if result is None:
                    why = "workers-timeout"
                elif result.thunk_id != thunk.id:
                    why = "workers-bad-answer"
                elif result.error and result.exit_code == -1:
                    why = "workers-setup-failed"  # the worker could not run it: not the code's fault
                elif not result.ok or self.store.adopt_result(result):
                    if result.ok:
                        stats.record(self.store.root, (Event.EXECUTED_BY, "workers"))
                    return result
                else:
                    why = "workers-output-lost"  # stored in a shared store that has since lost it
        except EntryLost:
            why = "workers-entry-lost"
        except Exception as e:  # Redis or the shared store unreachable
            why = "workers-unreachable"
            stats.record(self.store.root, (Event.ERROR, f"workers: {type(e).__name__}: {e}"))
        stats.record(self.store.root, (Event.ENGINE_FALLBACK, why))
        return self.local.submit(thunk, resolved).result()

    def _ask(self, thunk: Thunk, resolved: dict[str, str]) -> Result | None:
        """Enqueue, wait; a straggler (far slower than the thunks before it)
        is enqueued once more, and the first answer wins."""
        started = time.monotonic()
        pending = [self.queue.submit(thunk.id, resolved)]
        patience = min(self.timeout_s, self.stragglers.patience() or self.timeout_s)
        result = self.queue.wait(pending, patience)
        if result is None and patience < self.timeout_s:
            stats.record(self.store.root, Event.WORKERS_DUPLICATE)
            pending.append(self.queue.submit(thunk.id, resolved))
            result = self.queue.wait(pending, self.timeout_s - patience)
        if result is not None:
            self.stragglers.answered(time.monotonic() - started)
        return result

    def _anyone_alive(self) -> bool:
        if time.monotonic() < self._alive_until:
            return True
        with self._alive_lock:  # one thread asks; the others use its answer
            if time.monotonic() < self._alive_until:
                return True
            if self.queue.live_workers():
                self._alive_until = time.monotonic() + ALIVE_CHECK_S
                return True
            return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.local.shutdown()


def open_workers_engine(store: Store, local: LocalEngine, settings: EngineSettings, in_flight: int = 256) -> WorkersEngine:
    """The engine for a redis:// shared store (GgccError otherwise)."""
    timeout = settings.workers_timeout_s
    queue = open_queue(store.shared, timeout_s=timeout + 30, who="GGCC_ENGINE=workers")
    # Compiles vary: a farm's thunk is a straggler after 30 s at the least.
    return WorkersEngine(store, queue, in_flight, local, timeout, Stragglers(30.0, settings.workers_straggler_s))
