"""The REAPI engine (GGCC_ENGINE=reapi): thunks run on a Remote Execution
API farm (GGCC_REAPI=grpc://host:port).

For each thunk: its Action (reapi/action.py), the ActionCache asked first,
then the input blobs the CAS lacks uploaded (uploads.py: those seen
there lately are not asked about again), then Execute. The outputs are read back, each
checked against its digest, and kept in the local store like a local
run's. The thunk runs here instead, the reason counted, when: it cannot be
an Action, the server cannot be reached or refuses, the Action fails to run
(the shell could not start the command: exit 126 or 127, or a non-OK
status), or an output cannot be read back. An input the server says is
missing is uploaded again, without trusting what was remembered, once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from ggcc.base import stats
from ggcc.base.stats import Event
from ggcc.engines import EngineSettings
from ggcc.engines.breaker import Breaker
from ggcc.engines.local import LocalEngine
from ggcc.engines.uploads import Uploads
from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.formats.thunk import NEW_THUNKS_DIR, ROOT_TOKEN, Thunk, ThunkFormatError, kind_of_output, parse_thunk
from ggcc.reapi.action import ROOT_FILE, SHELL_FAILED, ActionError, PlannedAction, Shell, capture_shell, plan
from ggcc.reapi.client import Connection, ReapiError
from ggcc.storage.reapi_cas import id_of
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.store import Store

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2

# The server unreachable: every step runs here for a spell, then one probes.
BREAK_FIRST_S = 5.0
BREAK_MAX_S = 120.0
FAILED_PRECONDITION = 9  # google.rpc.Code: REAPI's "an input is missing"
# After this many ActionCache misses in a row (a cold build), the lookup is
# left to Execute itself (one round trip less per step); the first hit that
# Execute reports brings the lookup before uploads back (a hit then costs
# no uploads).
AC_MISS_STREAK = 16


class ReapiEngine:
    name = "reapi"

    def __init__(self, store: Store, conn: Connection, local: LocalEngine, in_flight: int, timeout_s: float,
                 platform: tuple[tuple[str, str], ...] = ()) -> None:
        self.store = store
        self.platform = platform
        self.conn = conn
        self.local = local
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max(1, in_flight), thread_name_prefix="ggcc-reapi")
        self._shell: Shell | None = None
        self._lock = threading.Lock()
        self.uploads = Uploads(store)  # blobs the CAS was seen to hold (or was given)
        self._breaker = Breaker(BREAK_FIRST_S, BREAK_MAX_S)
        self._ac_misses = 0  # ActionCache misses in a row

    def submit(self, thunk: Thunk, resolved: dict[str, str]) -> Future[Result]:
        return self._pool.submit(self._run, thunk, resolved)

    def shell(self) -> Shell:
        with self._lock:
            if self._shell is None:
                self._shell = capture_shell(self.store.local, HashCache(self.store.root))
            return self._shell

    def _run(self, thunk: Thunk, resolved: dict[str, str]) -> Result:
        why = ""
        if not self._breaker.may_pass():  # the server was found unreachable just now: do not wait on it again
            stats.record(self.store.root, (Event.ENGINE_FALLBACK, "reapi-unreachable"))
            return self.local.submit(thunk, resolved).result()
        try:
            t0 = time.perf_counter()
            planned = plan(thunk, resolved, self.shell(), self.platform)
            timings = {"plan": (time.perf_counter() - t0) * 1000}
            result = self._remote(thunk, planned, timings)
            self._breaker.heal()
            if isinstance(result, Result):
                stats.record(self.store.root, (Event.EXECUTED_BY, "reapi"))
                return result
            why = result
        except ActionError as e:
            why = e.reason
        except ReapiError as e:
            why = "reapi-unreachable" if e.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") else "reapi-refused"
            if e.code == "UNAVAILABLE":
                self._breaker.trip(why)
            stats.record(self.store.root, (Event.ERROR, f"reapi: {e.message}"))
        except Exception as e:  # a bug or an I/O error: run here, say why
            why = "reapi-internal"
            stats.record(self.store.root, (Event.ERROR, f"reapi: {type(e).__name__}: {e}"))
        stats.record(self.store.root, (Event.ENGINE_FALLBACK, why))
        return self.local.submit(thunk, resolved).result()

    def _remote(self, thunk: Thunk, planned: PlannedAction, timings: dict[str, float]) -> Result | str:
        """The thunk's Result from the farm, or why it must run here;
        ``timings`` gets each phase's milliseconds (kept in the Result:
        integration/bench/reapi_build.py adds them up)."""
        ask_first = self._ac_misses < AC_MISS_STREAK
        if ask_first:
            with _timed(timings, "ac"):
                cached = self.conn.cached_result(planned.action_id)
            if cached is not None and cached.exit_code == 0:
                got = self._adopt(thunk, planned, cached, timings)
                if isinstance(got, Result):
                    self._ac_misses = 0
                    stats.record(self.store.root, Event.REAPI_CACHED)
                    return got
            self._ac_misses += 1
        with _timed(timings, "upload"):
            self._push(planned, check_all=False)
        with _timed(timings, "execute"):
            response = self._execute(planned.action_id, cache_lookup=not ask_first)
        if response is None:  # an input missing from the CAS (evicted, a server restarted empty)
            stats.record(self.store.root, (Event.ERROR, "reapi: an input was missing from the CAS: uploaded again"))
            self._push(planned, check_all=True)
            response = self._execute(planned.action_id, cache_lookup=not ask_first)
            if response is None:
                return "reapi-inputs-missing"
        if response.status.code != 0:
            stats.record(self.store.root, (Event.ERROR, f"reapi: Execute: status {response.status.code} "
                                                        f"{response.status.message}"))
            return "reapi-failed"
        timings.update(worker_timings(response.result.execution_metadata, timings["execute"]))
        got = self._adopt(thunk, planned, response.result, timings)
        if response.cached_result and isinstance(got, Result):
            self._ac_misses = 0  # the farm knows this build's steps: ask before uploading again
            stats.record(self.store.root, Event.REAPI_CACHED)
        return got

    def _execute(self, action_id: str, cache_lookup: bool = False) -> re_pb2.ExecuteResponse | None:
        """Execute; None if the server says an input is missing (REAPI's
        FAILED_PRECONDITION, on the call or in the response)."""
        try:
            response = self.conn.execute(action_id, self.timeout_s, cache_lookup)
        except ReapiError as e:
            if e.code == "FAILED_PRECONDITION":
                return None
            raise
        return None if response.status.code == FAILED_PRECONDITION else response

    def _push(self, planned: PlannedAction, check_all: bool) -> None:
        wanted = [*planned.messages, *planned.files]
        if check_all:
            self.uploads.forget(wanted)
        self.uploads.push(wanted, lambda unknown: self._send(unknown, planned))

    def _send(self, blobs: list[str], planned: PlannedAction) -> None:
        """Upload those of ``blobs`` the CAS lacks (the empty blob is always there)."""
        missing = self.conn.find_missing([b for b in blobs if ids.id_size(b)])
        local = self.store.local

        def read(b: str) -> bytes:
            return planned.messages[b] if b in planned.messages else local.read_bytes(b)

        self.conn.upload(missing, read, lambda b: local.path_for_use(b, False))

    def _adopt(self, thunk: Thunk, planned: PlannedAction, ar: re_pb2.ActionResult,
               timings: dict[str, float]) -> Result | str:
        """The ActionResult as a Result, its outputs read, checked and kept here."""
        t0 = time.perf_counter()
        if ar.exit_code in SHELL_FAILED:
            return "reapi-exec-failed"
        by_path = {f.path: f for f in ar.output_files}
        stdout = self._log(ar.stdout_raw, ar.stdout_digest)
        stderr = self._log(ar.stderr_raw, ar.stderr_digest)
        if (stdout or stderr) and ROOT_FILE in by_path:
            # As a local run's logs: the root by its token, the same on every
            # run (read only when there are logs: most compiles print nothing).
            root = self.conn.read(id_of(by_path[ROOT_FILE].digest)).decode("utf-8", "replace")
            if os.path.isabs(root):
                stdout, stderr = (x.replace(root.encode(), ROOT_TOKEN.encode()) for x in (stdout, stderr))
        if ar.exit_code != 0:
            return Result(thunk.id, ar.exit_code, (), stdout, stderr)
        outputs = []
        for o in thunk.outputs:
            f = by_path.get(o.path)
            if f is None:
                return "reapi-output-missing"
            got = self._output(id_of(f.digest), o.tag)
            if got is None:
                return "reapi-output-invalid"
            outputs.append(OutputValue(o.tag, got, f.is_executable))
        for d in ar.output_directories:
            if d.path == NEW_THUNKS_DIR and not self._new_thunks(id_of(d.tree_digest)):
                return "reapi-output-invalid"
        timings["download"] = (time.perf_counter() - t0) * 1000
        result = Result(thunk.id, 0, tuple(outputs), stdout, stderr, timings_ms=timings)
        self.store.put_result(result)
        return result

    def _output(self, vid: str, tag: str) -> str | None:
        """An output kept here, read and checked if new: its id, a thunk's
        if it holds one (a dynamic graph's next step, as a local run
        classifies it); None if it looks like a thunk and is not valid."""
        local = self.store.local
        if not local.has(vid):
            tmp = local.temp_for_blob(vid)
            try:
                self.conn.read_to(vid, tmp)  # streamed, checked against its digest (hashed once)
                local.adopt_file(tmp, vid)
            finally:
                local.remove_quiet(tmp)
        try:
            return kind_of_output(local.blob_path(vid)) + vid[1:]
        except ThunkFormatError as e:
            stats.record(self.store.root, (Event.ERROR, f"reapi: output {tag!r} looks like a thunk but is not valid: {e}"))
            return None

    def _new_thunks(self, tree_id: str) -> bool:
        """Keep the thunks the command wrote to NEW_THUNKS_DIR (its files,
        as a local run takes them), each read, checked and parsed."""
        tree = re_pb2.Tree.FromString(self.conn.read(tree_id))
        for f in tree.root.files:
            data = self.conn.read(id_of(f.digest))
            try:
                parse_thunk(data)
            except ThunkFormatError as e:
                stats.record(self.store.root, (Event.ERROR, f"reapi: new thunk {f.name!r} is not valid: {e}"))
                return False
            self.store.local.put_bytes(data, ids.THUNK)
        return True

    def _log(self, raw: bytes, d: re_pb2.Digest) -> bytes:
        return raw if raw or not d.hash or d.size_bytes == 0 else self.conn.read(id_of(d))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.local.shutdown()
        self.conn.close()


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + (time.perf_counter() - t0) * 1000


def _span_ms(meta: re_pb2.ExecutedActionMetadata, start: str, end: str) -> float | None:
    if not (meta.HasField(start) and meta.HasField(end)):  # type: ignore[arg-type]
        return None
    a, b = getattr(meta, start), getattr(meta, end)
    return max(0.0, float(b.seconds - a.seconds) * 1000 + float(b.nanos - a.nanos) / 1e6)


def worker_timings(meta: re_pb2.ExecutedActionMetadata, execute_ms: float) -> dict[str, float]:
    """What the worker says it spent (fetching inputs, running, uploading
    outputs, in all), and the rest of the Execute call's time: the queue,
    the scheduler's hand-offs and the wire ("farm"). Differences of the
    worker's own clock only, so skew between machines does not matter."""
    out: dict[str, float] = {}
    for name, start, end in (("worker_fetch", "input_fetch_start_timestamp", "input_fetch_completed_timestamp"),
                             ("worker_run", "execution_start_timestamp", "execution_completed_timestamp"),
                             ("worker_upload", "output_upload_start_timestamp", "output_upload_completed_timestamp"),
                             ("worker", "worker_start_timestamp", "worker_completed_timestamp")):
        ms = _span_ms(meta, start, end)
        if ms is not None:
            out[name] = ms
    if "worker" in out:
        out["farm"] = max(0.0, execute_ms - out["worker"])
    queued = _span_ms(meta, "queued_timestamp", "worker_start_timestamp")  # the server's clock to the worker's
    if queued is not None:
        out["queued"] = queued
    return out


def open_reapi_engine(store: Store, local: LocalEngine, settings: EngineSettings, in_flight: int = 256) -> ReapiEngine:
    """The engine for GGCC_REAPI (GgccError if it is unset or the server cannot be reached)."""
    from ggcc.base.errors import GgccError

    if not settings.reapi_uri:
        raise GgccError("GGCC_ENGINE=reapi needs GGCC_REAPI=grpc://host:port (the farm's address)")
    conn = Connection(settings.reapi_uri, settings.reapi_access)
    try:
        conn.open()
    except ReapiError as e:
        conn.close()
        raise GgccError(f"GGCC_ENGINE=reapi: {e.message}") from None
    return ReapiEngine(store, conn, local, in_flight, settings.workers_timeout_s, settings.reapi_platform)
