"""Engines run thunks whose inputs are all forced; the scheduler decides when.

An engine takes one thunk at a time and answers with a future of its Result.
It never raises through the future: problems come back as failed Results,
so one bad thunk cannot take the scheduler down.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk


class Engine(Protocol):
    name: str

    def submit(self, thunk: Thunk, resolved: dict[str, str]) -> Future[Result]:
        """Run ``thunk``; ``resolved`` maps its thunk references to value ids."""
        ...

    def shutdown(self) -> None: ...


def make_engine(name: str, store: object, jobs: int, strict: bool = False) -> Engine:
    from ggcc.base.errors import GgccError

    if name == "local":
        from ggcc.engines.local import LocalEngine
        from ggcc.storage.local_store import LocalStore

        assert isinstance(store, LocalStore)
        return LocalEngine(store, jobs, strict)
    if name == "workers":
        from ggcc.engines.local import LocalEngine
        from ggcc.engines.workers import open_workers_engine
        from ggcc.storage.local_store import LocalStore

        assert isinstance(store, LocalStore)
        return open_workers_engine(store, LocalEngine(store, jobs, strict), in_flight=max(64, jobs))
    if name == "lambda":
        from ggcc.engines.aws_lambda import open_lambda_engine
        from ggcc.engines.local import LocalEngine
        from ggcc.storage.local_store import LocalStore

        assert isinstance(store, LocalStore)
        return open_lambda_engine(store, LocalEngine(store, jobs, strict))
    raise GgccError(f"unknown engine {name!r}: this version of ggcc has 'local', 'workers' and 'lambda'")
