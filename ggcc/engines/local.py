"""The local engine: the executor on this machine, up to ``jobs`` at once."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from ggcc.execution.executor import execute
from ggcc.execution.sandbox import SandboxPool
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk
from ggcc.storage.store import Store


class LocalEngine:
    name = "local"

    def __init__(self, store: Store, jobs: int, strict: bool = False) -> None:
        self.store = store
        self.strict = strict
        self.jobs = max(1, jobs)
        # Threads, not processes: each thunk is its own child process anyway,
        # and the executor's Python work is small next to it.
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="ggcc-local")
        self._sandboxes = SandboxPool(store.local)

    def submit(self, thunk: Thunk, resolved: dict[str, str]) -> Future[Result]:
        return self._pool.submit(self._run, thunk, resolved)

    def _run(self, thunk: Thunk, resolved: dict[str, str]) -> Result:
        try:
            return execute(thunk, resolved, self.store, self._sandboxes, self.strict)
        except Exception as e:  # a bug or an I/O error: report, never hang
            return Result(thunk.id, -1, error=f"internal error while running the thunk: {e!r}")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._sandboxes.close()
