"""Deferred mode (``ggcc infer``): placeholders now, real outputs soon.

Under ``ggcc infer <build>``, every launcher carries GGCC_INFER=<session>.
For a compile that is not an immediate cache hit, the daemon does the part
that needs the host as it is now (the header scan, the depfile, hashing the
inputs into a thunk), writes a placeholder at the object's path and answers
at once, so the build tool goes on; the thunk is forced in the background
and the object put over its placeholder when it arrives, only if the
placeholder is still there, unchanged. An archive of placeholder members is
a thunk too, forced once those members' thunks are done.

A link waits: its inputs are forced first and it runs as in wait mode, so
every executable and shared library is real the moment the build tool sees
it (a build that runs a program it just linked works). Objects and archives
are the only placeholders. A program outside ggcc that opens one (nm,
objcopy, ar by absolute path, cp) waits for the real bytes: the placeholder
guard that ``ggcc infer`` preloads asks the daemon ("make-real", see
ggcc/preload). One the guard cannot reach is found by the placeholder's
atime when its output arrives (``check_unread``); ``ggcc infer`` then fails
naming it.

A thunk that fails in the background is re-run as the real command on the
host (as in wait mode): if the real compiler fails too, its messages are the
session's report and its output is left as the compiler leaves it; the
placeholder never stays. Every placeholder path is also appended to
``<GGCC_DIR>/infer/<session>.paths``, so if the daemon dies, ``ggcc infer``
forces what is left itself.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Callable

from ggcc.formats import placeholder

SESSION_ENV = "GGCC_INFER"


@dataclass
class Pending:
    thunk_id: str
    data: bytes  # the placeholder's bytes: replaced only while they are still there
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Session:
    sid: str
    paths_file: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[str, Pending] = field(default_factory=dict)  # output's real path -> pending
    running: int = 0
    finished: int = 0
    hits: int = 0
    local: int = 0
    out_bytes: int = 0
    env: dict[str, str] = field(default_factory=dict)  # the first request's, for outputs made real on demand
    umask: int = 0o022
    report: list[tuple[str, int, bytes]] = field(default_factory=list)  # (path, exit code, messages)
    readers: dict[str, int] = field(default_factory=dict)  # program -> placeholders it waited for (the guard)
    read_early: list[str] = field(default_factory=list)  # placeholders read by programs the guard missed
    events: list[tuple[str, str]] = field(default_factory=list)  # (built | hit | local | failed, path), in order

    def defer(self, path: str, thunk_id: str, tag: str, work: Callable[[], None], waits: list[str]) -> None:
        """Write the placeholder for ``path`` and start ``work`` in the
        background once the outputs at ``waits`` are real."""
        ref = f"{thunk_id}#{tag}"
        key = _key(path)
        data = placeholder.render(ref)
        placeholder.write(path, ref)
        p = Pending(thunk_id, data)
        with self.lock:
            # What to wait for is decided now: `ranlib x.a` over the
            # placeholder of `ar rc x.a` waits for that ar, not for itself.
            before = [q for q in (self.pending.get(_key(w)) for w in waits) if q is not None]
            self.pending[key] = p  # an older job for this path finds its placeholder gone
            self.running += 1
        try:
            with open(self.paths_file, "ab") as f:
                f.write(os.fsencode(path) + b"\n")
        except OSError:
            pass

        def run() -> None:
            try:
                for q in before:
                    q.done.wait()
                work()
            finally:
                with self.lock:
                    self.running -= 1
                    self.finished += 1
                    if self.pending.get(key) is p:
                        del self.pending[key]
                p.done.set()

        threading.Thread(target=run, daemon=True, name=f"ggcc-infer-{os.path.basename(path)}").start()

    def still_placeholder(self, path: str, data: bytes) -> bool:
        return placeholder.read_head(path) == data

    def pending_data(self, path: str) -> bytes:
        with self.lock:
            p = self.pending.get(_key(path))
            return p.data if p else placeholder.render("")

    def wait(self, path: str) -> None:
        """Until the output at ``path`` is real (or failed)."""
        with self.lock:
            p = self.pending.get(_key(path))
        if p is not None:
            p.done.wait()

    def wait_all(self) -> None:
        while True:
            with self.lock:
                ps = list(self.pending.values())
            if not ps:
                return
            for p in ps:
                p.done.wait()

    def note(self, kind: str, path: str) -> None:
        """How an output ended: what `ggcc infer` shows, one line each."""
        with self.lock:
            self.events.append((kind, path))

    def waited(self, reader: str) -> None:
        with self.lock:
            self.readers[reader] = self.readers.get(reader, 0) + 1

    def check_unread(self, path: str, st: os.stat_result | None) -> None:
        """``st``: the stat of the placeholder just replaced at ``path``."""
        if st is not None and placeholder.was_read(st):
            with self.lock:
                self.read_early.append(path)
                self.events.append(("read-early", path))

    def events_since(self, cursor: int) -> list[tuple[str, str]]:
        with self.lock:
            return self.events[cursor:]

    def add_report(self, path: str, code: int, messages: bytes) -> None:
        with self.lock:
            self.report.append((path, code, messages))

    def status(self) -> str:
        with self.lock:
            failures = sum(1 for _, code, _ in self.report if code)
            return (f"pending {len(self.pending)} running {self.running} finished {self.finished} "
                    f"hits {self.hits} local {self.local} failures {failures} bytes {self.out_bytes}")


def _key(path: str) -> str:
    """One name per file (the guard names what it opened by its real path)."""
    return os.path.realpath(path)


def session_paths_file(root: str, sid: str) -> str:
    return os.path.join(root, "infer", f"{sid}.paths")


def run_real(argv: tuple[str, ...], compiler: str, env: dict[str, str], cwd: str) -> subprocess.CompletedProcess[bytes]:
    """The real command on the host, as wait mode's fallback runs it
    (without the placeholder guard: its own output is a placeholder now,
    and the daemon runs it)."""
    from ggcc.preload import without_guard

    return subprocess.run(list(argv), executable=compiler, cwd=cwd, env=without_guard(env), capture_output=True,
                          stdin=subprocess.DEVNULL)
