"""The Lambda engine (GGCC_ENGINE=lambda): thunks run by the ggcc function.

Thunks wait in one queue; a dispatcher sends them while fewer than
GGCC_LAMBDA_CONCURRENCY invocations (default 1,000) are in flight. A thunk
goes alone while there are free invocation slots: that is the fastest it
can go. When every slot is busy the queue grows, and the next free slot
takes several thunks at once (up to GGCC_LAMBDA_BATCH, default 4): one
round trip and one warm function for several small compiles.

Before an invocation, the thunks and every input go to the shared storage
in one batched check-and-upload. The invocation itself is retried:
  - throttling (429) and service errors (5xx), with backoff and full jitter;
  - function errors (an exception, a timeout, out of memory, a crashed
    process) up to GGCC_LAMBDA_RETRIES times (default 2); a batch that
    fails is split and each thunk tried alone;
  - an invocation far slower than the recent ones (4x their median, at
    least GGCC_LAMBDA_STRAGGLER_S, default 10 s) is sent a second time and
    the first answer wins.
A function that cannot run at all (its runtime does not start, its
handler does not import, it is not Active, the caller may not invoke it)
opens a circuit breaker: nothing is sent for BREAK_FIRST_S (doubling up
to BREAK_MAX_S while it stays broken), every thunk meanwhile runs here at
once, and the reason is said once; then one invocation probes it, and the
first answer from a running function closes the breaker.
Whatever still fails runs here, on the local engine, with the reason
counted; so do thunks the function cannot take (inputs bigger than its
/tmp, a time limit longer than its timeout). A build never fails because
Lambda did.

The function's answer is checked: the right thunks, in order; outputs are
fetched from the shared storage and checked against their ids, on a few
finisher threads, so that the invocation's thread is free at once.
"""

from __future__ import annotations

import http.client
import platform
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ggcc.aws import protocol
from ggcc.aws.control import ARCH, BROKEN_CODES, PRICE_GBS, aws_message, control_client, function_error
from ggcc.aws.invoke import Invoker
from ggcc.base import stats
from ggcc.base.errors import GgccError
from ggcc.base.stats import Event
from ggcc.engines import EngineSettings
from ggcc.engines.breaker import Breaker
from ggcc.engines.local import LocalEngine
from ggcc.engines.stragglers import Stragglers
from ggcc.engines.uploads import Uploads
from ggcc.execution.executor import blobs_needed
from ggcc.execution.remote_exec import MISSING_INPUT
from ggcc.formats import ids
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk
from ggcc.storage.backend import StorageError
from ggcc.storage.store import Store
from ggcc.storage.tiered import TieredStore

_THROTTLE_TRIES = 12  # with backoff capped at 2 s: about 15 s of trying
_BACKOFF_FIRST_S = 0.05
_BACKOFF_CAP_S = 2.0
_UNAVAILABLE_FOR_S = 30.0  # after the function cannot be found or reached
BREAK_FIRST_S = 30.0  # the breaker's first open spell; doubled while the probes fail
BREAK_MAX_S = 600.0
_FINISHERS = 8  # threads finishing answers (fetches of outputs run in parallel on them)
_TMP_SHARE = 0.6  # a thunk's inputs may fill this much of the function's /tmp



class _Fallback(Exception):
    """Run the thunk(s) locally, counted under ``reason``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _Broken(Exception):
    """The function cannot run: open the breaker."""


class _FunctionFailed(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout", "out-of-memory", "crashed", "error"


@dataclass
class _Item:
    thunk: Thunk
    resolved: dict[str, str]
    future: Future[Result] = field(default_factory=Future)
    alone: bool = False  # split out of a failed batch: never batched again
    failures: int = 0


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    timeout_s: int
    memory_mb: int
    tmp_mb: int
    arch: str


class LambdaEngine:
    name = "lambda"

    def __init__(
        self,
        store: TieredStore,
        local: LocalEngine,
        storage_uri: str,
        function: str,
        control_client: Callable[[], Any],
        invoker_factory: Callable[[float], Invoker],
        concurrency: int = 1000,
        batch_max: int = 4,
        retries: int = 2,
        straggler_min_s: float = 10.0,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.store = store
        self._say = say  # a line for the user, once (the daemon passes it to the next launcher)
        self._breaker = Breaker(BREAK_FIRST_S, BREAK_MAX_S)
        self.local = local
        self.storage_uri = protocol.strip_credentials(storage_uri)
        self.function = function
        self.concurrency = max(1, concurrency)
        self.batch_max = max(1, batch_max)
        self.retries = max(0, retries)
        self.stragglers = Stragglers(straggler_min_s)
        self._control_client = control_client
        self._invoker_factory = invoker_factory
        self._invoker: Invoker | None = None
        self._info: FunctionInfo | None = None
        self._unavailable_until = 0.0
        self._info_lock = threading.Lock()
        self._uploads = Uploads(store)
        self._queue: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        # One thread per invocation in flight, plus one per duplicate.
        self._batches = ThreadPoolExecutor(self.concurrency, thread_name_prefix="ggcc-lambda")
        self._calls = ThreadPoolExecutor(self.concurrency * 2, thread_name_prefix="ggcc-invoke")
        # Answers are finished (outputs fetched and checked, results kept,
        # counted) by a few threads, not by the hundreds that waited for
        # them: every file operation gives up the GIL and must win it back,
        # and with hundreds of waking threads each would queue behind all
        # of them (a 1,000-way replay spent up to a second in one
        # stats.record, and new invocations waited as long to start).
        self._finishers = ThreadPoolExecutor(_FINISHERS, thread_name_prefix="ggcc-lambda-finish")

    # -- the Engine interface -------------------------------------------------
    def submit(self, thunk: Thunk, resolved: dict[str, str]) -> Future[Result]:
        item = _Item(thunk, dict(resolved))
        with self._lock:
            self._queue.append(item)
        self._dispatch()
        return item.future

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        self._batches.shutdown(wait=True, cancel_futures=True)
        self._finishers.shutdown(wait=True, cancel_futures=True)
        self._calls.shutdown(wait=False, cancel_futures=True)
        self.local.shutdown()

    # -- dispatch -------------------------------------------------------------
    # No dispatcher thread: whoever adds work (submit) or frees a slot (the
    # end of an invocation) sends what can be sent, under one lock.
    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._queue or self._in_flight >= self.concurrency:
                    return
                batch = self._take_batch()
                self._in_flight += 1
            self._batches.submit(self._run_batch, batch)

    def _take_batch(self) -> list[_Item]:
        """Alone while slots are free; several per invocation when they are not."""
        first = self._queue.popleft()
        if first.alone:
            return [first]
        free = self.concurrency - self._in_flight
        size = min(self.batch_max, -(-(len(self._queue) + 1) // max(1, free)))
        batch = [first]
        while len(batch) < size and self._queue and not self._queue[0].alone:
            batch.append(self._queue.popleft())
        return batch

    def _done_with_slot(self) -> None:
        with self._lock:
            self._in_flight -= 1
        self._dispatch()

    # -- one invocation ---------------------------------------------------------
    def _run_batch(self, batch: list[_Item]) -> None:
        try:
            self._run_batch_or_fail(batch)
        except _Fallback as f:
            for item in batch:
                self._run_locally(item, f.reason, f.detail)
        except Exception as e:  # a bug here must not hang the build
            for item in batch:
                self._run_locally(item, "lambda-internal-error", f"{type(e).__name__}: {e}")
        finally:
            self._done_with_slot()

    def _run_batch_or_fail(self, batch: list[_Item]) -> None:
        if not self._may_send():
            raise _Fallback("lambda-broken")  # the reason was counted, and said, when it opened
        try:
            self._send(batch)
        except _Broken as b:
            self._trip(str(b))
            raise _Fallback("lambda-broken", str(b)) from None

    # -- the circuit breaker (breaker.py) ------------------------------------------
    def _may_send(self) -> bool:
        return self._breaker.may_pass()

    def _trip(self, why: str) -> None:
        first = self._breaker.trip(why)
        stats.record(self.store.root, (Event.ERROR, f"lambda-broken: {why}"))
        if first:
            self._say(f"the Lambda function {self.function!r} cannot run ({why}): thunks run here meanwhile, "
                      f"and it is tried again in {self._breaker.spell_s:.0f} s; see `ggcc lambda status`")

    def _healed(self) -> None:
        self._breaker.heal()

    def _send(self, batch: list[_Item]) -> None:
        info = self._function_info()
        sendable = []
        for item in batch:
            why = self._too_big(item, info)
            if why:
                self._run_locally(item, why)
            else:
                sendable.append(item)
        if not sendable:
            return
        try:
            for item in sendable:
                self.store.local.put_thunk(item.thunk)
            self._uploads.push(sorted({b for item in sendable for b in _blobs(item)}))
        except (StorageError, OSError, GgccError) as e:
            raise _Fallback("lambda-storage-unreachable", str(e)) from None
        jobs = [protocol.Job(i.thunk.id, i.resolved) for i in sendable]
        try:
            answer = self._invoke_with_retries(jobs, info)
        except _FunctionFailed as f:
            if len(sendable) > 1:
                self._requeue_alone(sendable)  # one of them may be the culprit
                return
            item = sendable[0]
            item.failures += 1
            if item.failures <= self.retries:
                self._requeue_alone([item])
                return
            reason = {"timeout": "lambda-timeout", "out-of-memory": "lambda-out-of-memory"}.get(f.kind, "lambda-function-error")
            raise _Fallback(reason, str(f)) from None
        for item, r in zip(sendable, answer.results):
            self._finishers.submit(self._finish_or_local, item, r)

    def _finish_or_local(self, item: _Item, r: Result | str) -> None:
        try:
            self._finish(item, r)
        except Exception as e:  # a bug here must not hang the build
            self._run_locally(item, "lambda-internal-error", f"{type(e).__name__}: {e}")

    def _finish(self, item: _Item, r: Result | str) -> None:
        if isinstance(r, str):  # too big for the answer: stored as a blob
            if self.store.fetch_all([r]):
                return self._run_locally(item, "lambda-output-lost")
            try:
                r = Result.from_json(self.store.local.read_bytes(r))
            except (ValueError, GgccError):
                return self._run_locally(item, "lambda-bad-answer")
            if r.thunk_id != item.thunk.id:
                return self._run_locally(item, "lambda-bad-answer")
        if r.exit_code == -1 and r.error:
            if r.error.startswith(MISSING_INPUT) and item.failures == 0:
                # Believed uploaded, but gone (an emptied bucket): upload
                # again, once, without trusting what this engine remembers.
                self._uploads.forget(_blobs(item))
                item.failures += 1
                return self._requeue_alone([item])
            return self._run_locally(item, "lambda-setup-failed", r.error)  # not the code's fault
        if r.ok:
            if not self.store.adopt_result(r):  # the function stored it; the outputs have gone since
                return self._run_locally(item, "lambda-output-lost")
            stats.record(self.store.root, (Event.EXECUTED_BY, "lambda"))
        item.future.set_result(r)

    def _run_locally(self, item: _Item, reason: str, detail: str = "") -> None:
        events: list[stats.Item] = [(Event.ENGINE_FALLBACK, reason)]  # run here, by ggcc: not "without ggcc"
        if detail:
            events.append((Event.ERROR, f"lambda: {detail}"))
        stats.record(self.store.root, *events)
        local = self.local.submit(item.thunk, item.resolved)
        local.add_done_callback(lambda f: item.future.set_result(f.result()))

    def _requeue_alone(self, items: list[_Item]) -> None:
        with self._lock:
            for item in reversed(items):
                item.alone = True
                self._queue.appendleft(item)
        # A finisher requeues after its invocation gave back its slot:
        # nothing else may come along to send the item.
        self._dispatch()

    def _too_big(self, item: _Item, info: FunctionInfo) -> str:
        if item.thunk.timeout_ms and item.thunk.timeout_ms > info.timeout_s * 1000:
            return "lambda-too-long"
        size = sum(ids.id_size(b) for b in blobs_needed(item.thunk, item.resolved))
        if size > info.tmp_mb * (1 << 20) * _TMP_SHARE:
            return "lambda-too-big"
        return ""

    # -- the function ---------------------------------------------------------
    def _function_info(self) -> FunctionInfo:
        if self._info is not None:
            return self._info
        if time.monotonic() < self._unavailable_until:
            raise _Fallback("lambda-unavailable")
        with self._info_lock:  # one thread asks
            if self._info is not None:
                return self._info
            try:
                cfg = self._control_client().get_function_configuration(FunctionName=self.function)
            except Exception as e:
                self._unavailable_until = time.monotonic() + _UNAVAILABLE_FOR_S
                raise _Fallback("lambda-unavailable", f"function {self.function!r}: {aws_message(e)}; "
                                "deploy it with `ggcc lambda deploy`") from None
            state, update = cfg.get("State", "Active"), cfg.get("LastUpdateStatus", "Successful")
            if state in ("Failed", "Inactive") or update == "Failed":
                self._unavailable_until = time.monotonic() + _UNAVAILABLE_FOR_S
                reason = cfg.get("StateReason") or cfg.get("LastUpdateStatusReason") or ""
                raise _Fallback("lambda-unavailable", f"function {self.function!r} is {state} (last update {update})"
                                f"{': ' + reason if reason else ''}; run `ggcc lambda deploy`")
            info = FunctionInfo(
                name=self.function,
                timeout_s=int(cfg.get("Timeout", 3)),
                memory_mb=int(cfg.get("MemorySize", 128)),
                tmp_mb=int(cfg.get("EphemeralStorage", {}).get("Size", 512)),
                arch=(cfg.get("Architectures") or ["x86_64"])[0],
            )
            host = ARCH.get(platform.machine().lower(), platform.machine())
            if info.arch != host:
                self._unavailable_until = time.monotonic() + _UNAVAILABLE_FOR_S
                raise _Fallback("lambda-wrong-architecture", f"function {self.function!r} is {info.arch}, this machine {host}")
            try:
                # Reads must outlast the function's own timeout.
                self._invoker = self._invoker_factory(info.timeout_s + 30)
            except Exception as e:
                self._unavailable_until = time.monotonic() + _UNAVAILABLE_FOR_S
                raise _Fallback("lambda-unavailable", f"cannot set up invocations: {e}") from None
            self._info = info
            return info

    def _invoke_with_retries(self, jobs: list[protocol.Job], info: FunctionInfo) -> protocol.Answer:
        """One answer for ``jobs``; a straggler is sent twice, the first answer wins."""
        payload = protocol.encode_request(self.storage_uri, jobs)
        asked = [j.thunk_id for j in jobs]
        patience = self.stragglers.patience()
        if patience is None:  # too few answers yet to tell a straggler
            return self._invoke_until_accepted(payload, asked, info)
        first = self._calls.submit(self._invoke_until_accepted, payload, asked, info)
        done, _ = wait([first], timeout=patience)
        if done:
            return first.result()
        stats.record(self.store.root, Event.LAMBDA_DUPLICATE)
        second = self._calls.submit(self._invoke_until_accepted, payload, asked, info)
        pending: set[Future[protocol.Answer]] = {first, second}
        error: BaseException | None = None
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                e = f.exception()
                if e is None:
                    return f.result()
                error = error or e
        assert error is not None
        raise error

    def _invoke_until_accepted(self, payload: bytes, asked: list[str], info: FunctionInfo) -> protocol.Answer:
        """Invoke, retrying throttles and service errors with backoff and jitter."""
        invoker = self._invoker
        assert invoker is not None  # set with the function's info
        delay = _BACKOFF_FIRST_S
        for attempt in range(_THROTTLE_TRIES):
            if attempt:
                time.sleep(random.uniform(0, delay))  # full jitter
                delay = min(_BACKOFF_CAP_S, delay * 2)
            t0 = time.monotonic()
            try:
                reply = invoker.invoke(self.function, payload)
            except (OSError, http.client.HTTPException) as e:  # refused, reset, read timeout
                stats.record(self.store.root, Event.LAMBDA_INVOKE, (Event.LAMBDA_RETRY, type(e).__name__))
                continue
            body = reply.body
            if reply.status != 200:
                if reply.error_code in BROKEN_CODES or reply.status in (401, 403):
                    stats.record(self.store.root, Event.LAMBDA_INVOKE)
                    raise _Broken(f"{reply.error_code or reply.status}: {body[:200].decode('utf-8', 'replace')}")
                if reply.status == 429 or reply.status >= 500 or reply.error_code == "ResourceConflictException":
                    stats.record(self.store.root, Event.LAMBDA_INVOKE, Event.LAMBDA_THROTTLED if reply.status == 429
                                 else (Event.LAMBDA_RETRY, reply.error_code or reply.status))
                    continue
                stats.record(self.store.root, Event.LAMBDA_INVOKE)
                raise _Fallback("lambda-rejected", f"{reply.error_code or reply.status}: {body[:200].decode('utf-8', 'replace')}")
            elapsed = time.monotonic() - t0
            if reply.function_error:
                kind, message = function_error(body)
                self._bill(elapsed * 1e3, info, (Event.LAMBDA_FUNCTION_ERROR, kind))
                if kind == "broken":
                    raise _Broken(message)
                self._healed()  # it ran, and failed on this thunk
                raise _FunctionFailed(kind, message)
            try:
                answer = protocol.decode_answer(body, asked)
            except protocol.ProtocolError as e:
                self._bill(elapsed * 1e3, info)
                raise _Fallback("lambda-bad-answer", str(e)) from None
            self._bill(answer.duration_ms or elapsed * 1e3, info, *([Event.LAMBDA_COLD] if answer.cold else []))
            self._healed()
            self.stragglers.answered(elapsed)
            return answer
        raise _Fallback("lambda-throttled", f"still throttled or failing after {_THROTTLE_TRIES} tries")

    def _bill(self, ms: float, info: FunctionInfo, *events: stats.Item) -> None:
        """Count one invocation and its cost (one stats write)."""
        # Billed in 1 ms steps; summed as MB-ms so the stats stay integers.
        mbms = int(-(-ms // 1)) * info.memory_mb
        nano_usd = int(mbms / 1024 / 1000 * PRICE_GBS.get(info.arch, PRICE_GBS["x86_64"]) * 1e9)
        stats.record(self.store.root, Event.LAMBDA_INVOKE, (Event.LAMBDA_MBMS, mbms), (Event.LAMBDA_NUSD, nano_usd),
                     *events)


def _blobs(item: _Item) -> list[str]:
    """Every blob the function fetches for the item: the thunk and its inputs."""
    return [item.thunk.id, *blobs_needed(item.thunk, item.resolved)]


def open_lambda_engine(store: Store, local: LocalEngine, settings: EngineSettings,
                       say: Callable[[str], None] = lambda line: None) -> LambdaEngine:
    """The engine for an s3:// (or redis://) shared store (GgccError otherwise)."""
    if not isinstance(store, TieredStore) or not settings.storage_uri:
        raise GgccError("GGCC_ENGINE=lambda needs shared storage the function can reach: "
                        "set GGCC_STORAGE=s3://bucket/prefix")
    region = settings.lambda_region
    return LambdaEngine(
        store,
        local,
        settings.storage_uri,
        function=settings.lambda_function,
        control_client=control_client(region),
        invoker_factory=lambda timeout: Invoker(region, timeout),
        concurrency=settings.lambda_concurrency,
        batch_max=settings.lambda_batch,
        retries=settings.lambda_retries,
        straggler_min_s=settings.lambda_straggler_s,
        say=say,
    )
