"""`ggcc worker`: run thunks taken from the Redis queue on this machine.

A worker is ggcc's one thunk executor behind a loop: take entries (up to
--jobs at once), fetch the thunk and its inputs from the shared store
(each checked against its id), run it (--strict: in the strict sandbox),
store its outputs and result in the shared store, answer, acknowledge.
Every so often it also claims entries a dead worker left pending. Nothing
but thunks comes from the queue: no command line, no path; a thunk's
outputs are checked to stay inside its sandbox when it is parsed.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ggcc.base import stats
from ggcc.execution.remote_exec import run_fetched
from ggcc.execution.sandbox import SandboxPool
from ggcc.formats.result import Result
from ggcc.storage.tiered import TieredStore
from ggcc.workers.queue import CLAIM_AFTER_S, HEARTBEAT_EVERY_S, MAX_DELIVERIES, Job, Queue, open_queue


class Worker:
    def __init__(self, store: TieredStore, queue: Queue, jobs: int, strict: bool, name: str = "") -> None:
        self.store = store
        self.queue = queue
        self.jobs = max(1, jobs)
        self.strict = strict
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.stop = threading.Event()
        self._free = threading.Semaphore(self.jobs)
        self._done = 0
        self._entries: set[str] = set()  # stream entries being run here
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="ggcc-worker")
        self._sandboxes = SandboxPool(store.local)

    def run(self) -> None:
        beat = threading.Thread(target=self._heartbeats, daemon=True)
        beat.start()
        next_claim = time.monotonic() + CLAIM_AFTER_S / 4
        group_ready = False
        try:
            while not self.stop.is_set():
                self._free.acquire()  # wait for a free slot
                self._free.release()
                try:
                    if not group_ready:
                        self.queue.ensure_group()
                        group_ready = True
                    if time.monotonic() >= next_claim:
                        next_claim = time.monotonic() + CLAIM_AFTER_S / 4
                        for job in self.queue.claim_stale(self.name, self._free_slots()):
                            self._start(job)
                    for job in self.queue.take(self.name, self._free_slots(), block_ms=1000):
                        self._start(job)
                except Exception as e:  # Redis restarting: wait, then set the group up again
                    print(f"ggcc worker {self.name}: {type(e).__name__}: {e}; retrying in 2 s", flush=True)
                    group_ready = False
                    self.stop.wait(2)
        finally:
            self._pool.shutdown(wait=True)
            self._sandboxes.close()
            try:
                self.queue.leave(self.name)
            except Exception:
                pass

    def _free_slots(self) -> int:
        with self._lock:
            return max(1, self.jobs - len(self._entries))

    def _start(self, job: Job) -> None:
        self._free.acquire()
        with self._lock:
            self._entries.add(job.entry)
        self._pool.submit(self._handle, job)

    def _handle(self, job: Job) -> None:
        try:
            result = self._run(job)
            self.queue.answer(job, result)
            with self._lock:
                self._done += 1
        except Exception as e:  # Redis gone: the entry stays pending and is claimed later
            stats.record(self.store.root, (stats.Event.ERROR, f"worker: {type(e).__name__}: {e}"))
        finally:
            with self._lock:
                self._entries.discard(job.entry)
            self._free.release()

    def _run(self, job: Job) -> Result:
        if self.queue.deliveries(job.entry) > MAX_DELIVERIES:
            return Result(job.thunk_id, -1, error=f"given up after {MAX_DELIVERIES} deliveries to workers")
        result = run_fetched(self.store, job.thunk_id, job.resolved, self._sandboxes, self.strict).result
        if not (result.exit_code == -1 and result.error):  # it ran (set-up failures are not runs)
            stats.record(self.store.root, stats.Event.EXECUTED, (stats.Event.EXECUTED_BY, "workers"))
        return result

    def _heartbeats(self) -> None:
        every = min(HEARTBEAT_EVERY_S, CLAIM_AFTER_S / 3)
        while not self.stop.is_set():
            try:
                with self._lock:
                    done, entries = self._done, list(self._entries)
                self.queue.heartbeat(self.name, self.jobs, len(entries), done)
                self.queue.still_mine(self.name, entries)
            except Exception:
                pass  # Redis may be restarting; the next beat tries again
            self.stop.wait(every)


def main(storage_uri: str, root: str, jobs: int, strict: bool, name: str) -> int:
    from ggcc.storage import open_store

    store = open_store(root, storage_uri)
    queue = open_queue(store.shared, 30, "ggcc worker")
    assert isinstance(store, TieredStore)  # a Redis behind it: open_queue said so
    w = Worker(store, queue, jobs, strict, name)
    signal.signal(signal.SIGTERM, lambda *_: w.stop.set())
    signal.signal(signal.SIGINT, lambda *_: w.stop.set())
    print(f"ggcc worker {w.name}: {jobs} jobs, queue {store.shared.describe()}", flush=True)
    w.run()
    return 0
