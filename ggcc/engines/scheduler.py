"""Forcing a graph of thunks: dependencies first, each thunk once, cache first.

The scheduler is single-threaded; engines run thunks concurrently and report
back through a queue. Each distinct thunk id is one node, so a thunk reached
by many paths (a diamond) runs once. A node goes through:

    expand     cached result? -> has a result; else load the thunk and wait
               for the thunks whose outputs it reads
    ready      all inputs resolved -> submitted to the engine
    result     if an output is itself a thunk (a dynamic graph), wait for
               that thunk too
    resolved   every output is a value

A failure fails every node waiting on it; nothing else stops, so one
broken step reports all the failures it can in one run.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future
from dataclasses import dataclass, field

from ggcc.base.errors import GgccError
from ggcc.engines import Engine
from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.formats.thunk import Thunk, split_ref
from ggcc.storage.store import Store


@dataclass(eq=False)
class _Node:
    tid: str
    thunk: Thunk | None = None
    result: Result | None = None
    pending: int = 0
    waiters: list[_Node] = field(default_factory=list)
    final: dict[str, OutputValue] | None = None  # set when resolved
    failed: str = ""

    @property
    def resolved(self) -> bool:
        return self.final is not None


@dataclass(frozen=True)
class Failure:
    thunk_id: str
    message: str
    result: Result | None  # the failed run itself, when there was one


@dataclass
class ForceReport:
    values: dict[str, OutputValue] = field(default_factory=dict)  # ref -> final value
    failures: list[Failure] = field(default_factory=list)  # the root causes
    hits: int = 0
    executed: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


class Listener:
    """Progress callbacks; the default does nothing."""

    def discovered(self, count: int) -> None: ...
    def hit(self, tid: str) -> None: ...
    def started(self, tid: str, thunk: Thunk) -> None: ...
    def finished(self, tid: str, result: Result) -> None: ...


class Scheduler:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        listener: Listener | None = None,
        known: dict[str, Thunk] | None = None,
    ) -> None:
        self.store = store
        # Thunks the caller already holds parsed (and has stored): no need
        # to read them back from the store.
        self._known = known or {}
        self.engine = engine
        self.listener = listener or Listener()
        self._nodes: dict[str, _Node] = {}
        self._to_expand: list[_Node] = []
        self._ready: list[_Node] = []
        self._done: queue.SimpleQueue[tuple[_Node, Future[Result]]] = queue.SimpleQueue()
        self._in_flight = 0
        self._report = ForceReport()

    def force(self, refs: list[str]) -> ForceReport:
        """Force every reference ('T...' or 'T...#tag') to a value."""
        targets = []
        for ref in refs:
            tid, tag = split_ref(ref)
            if not ids.is_valid_id(tid) or tid[0] != ids.THUNK:
                raise GgccError(f"{ref!r} is not a thunk reference")
            targets.append((ref, self._want(tid), tag))
        self._loop()
        for ref, node, tag in targets:
            if node.failed:
                continue
            if node.final is None:
                self._report.failures.append(Failure(node.tid, "thunk graph has a cycle", None))
                continue
            if not tag and node.result is not None and not node.result.outputs:
                continue  # run for its exit code alone: nothing to hand back
            try:
                self._report.values[ref] = self._pick(node, tag)
            except GgccError as e:
                self._report.failures.append(Failure(node.tid, e.message, None))
        return self._report

    # -- the loop ------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            while self._to_expand:
                self._expand(self._to_expand.pop())
            while self._ready:
                self._submit(self._ready.pop())
            if self._in_flight == 0:
                if not self._to_expand and not self._ready:
                    return
                continue
            node, fut = self._done.get()
            self._in_flight -= 1
            self._on_result(node, fut.result())

    def _want(self, tid: str) -> _Node:
        node = self._nodes.get(tid)
        if node is None:
            node = _Node(tid)
            self._nodes[tid] = node
            self._to_expand.append(node)
            self.listener.discovered(len(self._nodes))
        return node

    def _expand(self, node: _Node) -> None:
        cached = self.store.get_result(node.tid)
        if cached is not None:
            self._report.hits += 1
            self.listener.hit(node.tid)
            self._after_result(node, cached)
            return
        try:
            node.thunk = self._known.get(node.tid) or self.store.local.load_thunk(node.tid)
        except GgccError as e:
            self._fail(node, e.message, None, root_cause=True)
            return
        self._wait_for(node, node.thunk.thunk_deps())
        if node.pending == 0 and not node.failed:
            self._ready.append(node)

    def _wait_for(self, node: _Node, tids: list[str]) -> None:
        for dep_id in tids:
            dep = self._want(dep_id)
            if dep is node:
                self._fail(node, "thunk depends on itself", None, root_cause=True)
                return
            if dep.failed:
                self._fail(node, f"depends on failed thunk {dep.tid}", None)
                return
            if not dep.resolved:
                node.pending += 1
                dep.waiters.append(node)

    def _submit(self, node: _Node) -> None:
        assert node.thunk is not None
        try:
            resolved = {
                inp.ref: self._pick(self._nodes[inp.thunk_id], split_ref(inp.ref)[1]).ref
                for inp in node.thunk.all_inputs()
                if inp.is_thunk
            }
        except GgccError as e:
            self._fail(node, e.message, None, root_cause=True)
            return
        self._in_flight += 1
        self._report.executed += 1
        self.listener.started(node.tid, node.thunk)
        fut = self.engine.submit(node.thunk, resolved)
        fut.add_done_callback(lambda f, n=node: self._done.put((n, f)))  # type: ignore[misc]

    def _on_result(self, node: _Node, result: Result) -> None:
        self.listener.finished(node.tid, result)
        if not result.ok:
            why = result.error or f"exit code {result.exit_code}"
            self._fail(node, why, result, root_cause=True)
            return
        self._after_result(node, result)

    def _after_result(self, node: _Node, result: Result) -> None:
        node.result = result
        dynamic = [o.ref for o in result.outputs if o.ref.startswith(ids.THUNK)]
        self._wait_for(node, dynamic)
        if node.pending == 0 and not node.failed:
            self._resolve(node)

    def _resolve(self, first: _Node) -> None:
        stack = [first]
        while stack:
            node = stack.pop()
            assert node.result is not None
            final = {}
            for o in node.result.outputs:
                if o.ref.startswith(ids.THUNK):
                    child = self._nodes[o.ref]
                    try:
                        v = self._pick(child, "")
                    except GgccError as e:
                        self._fail(node, f"output {o.tag!r} is a thunk that {e.message}", None, root_cause=True)
                        break
                    final[o.tag] = OutputValue(o.tag, v.ref, v.executable)
                else:
                    final[o.tag] = o
            else:
                node.final = final
                for w in node.waiters:
                    if w.failed:
                        continue
                    w.pending -= 1
                    if w.pending == 0:
                        if w.result is None:
                            self._ready.append(w)
                        else:
                            stack.append(w)
                node.waiters.clear()

    def _fail(self, first: _Node, message: str, result: Result | None, root_cause: bool = False) -> None:
        if root_cause:
            self._report.failures.append(Failure(first.tid, message, result))
        first.failed = message
        stack = list(first.waiters)
        first.waiters.clear()
        while stack:
            w = stack.pop()
            if w.failed:
                continue
            w.failed = f"depends on failed thunk {first.tid}"
            stack.extend(w.waiters)
            w.waiters.clear()

    @staticmethod
    def _pick(node: _Node, tag: str) -> OutputValue:
        assert node.final is not None
        if not tag:
            if node.result is None or not node.result.outputs:
                raise GgccError(f"thunk {node.tid} has no outputs")
            tag = node.result.outputs[0].tag
        v = node.final.get(tag)
        if v is None:
            raise GgccError(f"thunk {node.tid} has no output tagged {tag!r}")
        return v


def force(
    refs: list[str],
    store: Store,
    engine: Engine,
    listener: Listener | None = None,
    known: dict[str, Thunk] | None = None,
) -> ForceReport:
    return Scheduler(store, engine, listener, known).force(refs)

