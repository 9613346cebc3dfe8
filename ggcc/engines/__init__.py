"""Engines run thunks whose inputs are all forced; the scheduler decides when.

An engine takes one thunk at a time and answers with a future of its Result.
It never raises through the future: problems come back as failed Results,
so one bad thunk cannot take the scheduler down.

Every engine is made here (``make_engine``), from one record of its
settings read from one environment: the build's (a launcher's request to
the daemon) or the command's (`ggcc force`). Engines are kept per store and
per settings, so two builds with different settings get different engines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ggcc.base.errors import GgccError
from ggcc.base.reapi_uri import Access
from ggcc.base.settings import ENGINES
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk

if TYPE_CHECKING:
    from ggcc.storage.store import Store


class Engine(Protocol):
    name: str

    def submit(self, thunk: Thunk, resolved: dict[str, str]) -> Future[Result]:
        """Run ``thunk``; ``resolved`` maps its thunk references to value ids."""
        ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True)
class EngineSettings:
    """What an engine is made with (the settings table in base/settings.py
    says what each means and checks its value before a build starts)."""

    name: str = "local"  # GGCC_ENGINE
    strict: bool = False  # GGCC_SANDBOX=strict
    storage_uri: str = ""  # GGCC_STORAGE: the shared store the remote side reads
    workers_timeout_s: float = 600.0
    workers_straggler_s: float | None = None  # None: the rule in stragglers.py
    lambda_function: str = "ggcc"
    lambda_region: str | None = None
    lambda_concurrency: int = 1000
    lambda_batch: int = 4
    lambda_retries: int = 2
    lambda_straggler_s: float = 10.0
    reapi_uri: str = ""  # GGCC_REAPI: the farm's grpc://host:port
    reapi_access: Access = Access()  # instance, headers, TLS, credential helper: as the grpc:// store's
    reapi_platform: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def from_env(env: Mapping[str, str], name: str = "") -> EngineSettings:
        """From one environment; ``name`` overrides GGCC_ENGINE (`ggcc force --engine`)."""
        from ggcc.base.config import strict_sandbox
        from ggcc.base.reapi_uri import parse_headers
        from ggcc.storage import storage_uri

        def number(var: str, default: float) -> float:
            try:
                return float(env.get(var) or default)
            except ValueError:  # refused before a build starts (settings.problems); the default meanwhile
                return default

        fixed = env.get("GGCC_WORKERS_STRAGGLER_S")
        return EngineSettings(
            name=name or env.get("GGCC_ENGINE") or "local",
            strict=strict_sandbox(env),
            storage_uri=storage_uri(env),
            workers_timeout_s=number("GGCC_WORKERS_TIMEOUT", 600.0),
            workers_straggler_s=number("GGCC_WORKERS_STRAGGLER_S", 30.0) if fixed else None,
            lambda_function=env.get("GGCC_LAMBDA_FUNCTION") or "ggcc",
            lambda_region=env.get("GGCC_LAMBDA_REGION") or None,
            lambda_concurrency=int(number("GGCC_LAMBDA_CONCURRENCY", 1000)),
            lambda_batch=int(number("GGCC_LAMBDA_BATCH", 4)),
            lambda_retries=int(number("GGCC_LAMBDA_RETRIES", 2)),
            lambda_straggler_s=number("GGCC_LAMBDA_STRAGGLER_S", 10.0),
            reapi_uri=env.get("GGCC_REAPI") or "",
            reapi_access=Access.from_env(env),
            reapi_platform=parse_headers(env.get("GGCC_REAPI_PLATFORM") or "", lower=False)[0],
        )


def make_engine(settings: EngineSettings, store: Store, jobs: int, say: Callable[[str], None] = lambda line: None,
                on_error: Callable[[str], None] | None = None) -> Engine:
    """The engine ``settings`` names, over ``store``, running up to ``jobs``
    thunks here. One it cannot open (workers without a Redis store, Lambda
    without a shared store): GgccError, or with ``on_error`` (the daemon,
    which never fails a build) that is told why and the local engine
    answers. ``say``: a line for the user, from an engine with news."""
    from ggcc.engines.local import LocalEngine

    local = LocalEngine(store, jobs, settings.strict)
    try:
        if settings.name == "local":
            return local
        if settings.name == "workers":
            from ggcc.engines.workers import open_workers_engine

            return open_workers_engine(store, local, settings, in_flight=max(256, jobs))
        if settings.name == "lambda":
            from ggcc.engines.aws_lambda import open_lambda_engine

            return open_lambda_engine(store, local, settings, say)
        if settings.name == "reapi":
            try:
                from ggcc.engines.reapi import open_reapi_engine
            except ImportError as e:  # grpcio or the REAPI messages not installed
                raise GgccError(f"GGCC_ENGINE=reapi needs the extra: pip install 'ggcc[reapi]' ({e.name} is missing)") from None
            return open_reapi_engine(store, local, settings, in_flight=max(256, jobs))
        raise GgccError(f"unknown engine {settings.name!r}: this version of ggcc has {', '.join(ENGINES)}")
    except GgccError as e:
        if on_error is None:
            local.shutdown()
            raise
        on_error(e.message)
        return local
