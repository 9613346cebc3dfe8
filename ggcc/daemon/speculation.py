"""Compiling on save: a source the build compiled before is compiled again
as soon as it is written, before the build tool asks for it; and the links
that read its object, as soon as that object is made.

Why: after an edit, the build tool starts, reads its graph and logs, stats
its files and starts a launcher, which starts Python: on libuv, 8-20 ms
until ninja starts the step and ~8 ms until the launcher connects, before
the daemon hears of the compile; an editor that builds a moment after
saving loses more. The daemon hears of the save itself
(inotify on the source's directory) and runs the compile the build last
asked for there: same arguments, directory and environment. The result
goes to the store and to the direct-mode manifest, nowhere else: nothing
in the build tree is written. When the build asks, its request waits for
that compile and then finds it (a direct hit). If the source changed again
since, or the command is not the same, the lookup misses and the compile
runs as usual. A speculation costs CPU, never correctness: the build's own
request checks every input's content as it always does.

A link the daemon was asked for (and traced) is run the same way once a
speculation has made one of its inputs: the new object (or library, for
the link after that one) by its id from the store, the other inputs from
the disk. When the build asks for the link, the objects it wrote make the
same thunk, whose result is then in the store or being made.

Limits, so that a save costs at most what the build would do anyway:
- only main sources are watched: a header edit would start every compile
  that includes it, and the build may never ask for most of them;
- only commands asked of this daemon (it forgets them when it exits), at
  most PER_SOURCE per source or link input and MAX_SOURCES in all;
- at most ``jobs`` speculations run at once, and at most QUEUED wait
  (a checkout that rewrites hundreds of sources is left to the build);
- GGCC_SPECULATE=0 in a compile's environment leaves that compile out.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ggcc.daemon.inotify import Inotify
    from ggcc.launcher.request import Request

PER_SOURCE = 4  # commands kept per source: a library built static and shared compiles each source twice
MAX_SOURCES = 20000  # environments are shared between commands: ~1 KB each
MAX_USED = 4096  # thunk ids made by a speculation and not yet asked for
QUEUED = 64
WAIT_S = 3600.0  # a request waits for its speculation at most this long (it would compile as long itself)

Key = tuple[str, tuple[str, ...]]  # (cwd, argv): one compile command


def enabled(env: dict[str, str]) -> bool:
    return env.get("GGCC_SPECULATE", "1") != "0"


class Speculator:
    """Remembers compile commands by source; on a save, runs them with ``run``.

    ``run(request, known)`` compiles or links without writing into the
    build tree, taking the files in ``known`` (normalised host path -> id)
    from the store, and returns the id of the thunk it executed, or None
    (nothing executed: a hit already, a failure, a fallback). It calls
    ``made`` for the output it made, so that the links after it follow.
    """

    def __init__(self, run: Callable[[Request, dict[str, str]], str | None], jobs: int,
                 log: Callable[[str], None]) -> None:
        self._run = run
        self._jobs = max(1, jobs)
        self._log = log
        self._lock = threading.Lock()
        self._commands: OrderedDict[tuple[str, str], dict[Key, Request]] = OrderedDict()  # (dir, name) ->
        self._links: OrderedDict[str, dict[Key, Request]] = OrderedDict()  # an input in the build tree ->
        # Submitted and not started, with the outputs speculations made for it.
        self._queued: dict[Key, dict[str, str]] = {}
        self._envs: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}  # one copy of each environment
        self._running: dict[Key, threading.Event] = {}  # the newest speculation of each command
        self._made: OrderedDict[str, None] = OrderedDict()  # thunk ids a speculation executed
        self._inotify: Inotify | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._broken = False  # inotify unavailable or out of watches: remember nothing more

    # -- the request side ---------------------------------------------------------
    def remember(self, req: Request, source: str) -> None:
        """``req`` compiles ``source`` (absolute): run it again when it is saved."""
        if self._broken or not enabled(req.env):
            return
        directory, name = os.path.split(source)
        key: Key = (req.cwd, req.argv)
        env_key = tuple(sorted(req.env.items()))
        with self._lock:
            env = self._envs.get(env_key)
            if env is None:
                if len(self._envs) > 64:
                    self._envs.clear()
                env = self._envs[env_key] = req.env
            req = replace(req, env=env)
            cmds = self._commands.get((directory, name))
            if cmds is not None:
                self._commands.move_to_end((directory, name))  # the least recently compiled go first
            if cmds is not None and key in cmds:
                cmds[key] = req  # the newest environment
                return
            if cmds is None:
                cmds = self._commands[(directory, name)] = {}
                if len(self._commands) > MAX_SOURCES:
                    self._commands.popitem(last=False)
            if len(cmds) >= PER_SOURCE:
                del cmds[next(iter(cmds))]
            cmds[key] = req
            if self._inotify is not None and self._inotify.watching(directory):
                return
            try:
                self._start_watching(directory)
            except OSError as e:  # ENOSPC (out of watches), no inotify: do without
                self._broken = True
                self._log(f"compiling on save is off: {e}")

    def forget(self, source: str) -> None:
        """Compile ``source`` (absolute) on save no more: a probe file."""
        with self._lock:
            self._commands.pop(os.path.split(source), None)

    def remember_link(self, req: Request, inputs: list[str]) -> None:
        """``req`` links ``inputs`` (normalised host paths, those of the build
        tree): run it again when a speculation makes one of them."""
        if self._broken or not enabled(req.env) or self._pool is None:
            return  # no compile on save has been set up: nothing would start it
        key: Key = (req.cwd, req.argv)
        with self._lock:
            for path in inputs:
                links = self._links.get(path)
                if links is None:
                    links = self._links[path] = {}
                    if len(self._links) > MAX_SOURCES:
                        self._links.popitem(last=False)
                else:
                    self._links.move_to_end(path)
                if key not in links and len(links) >= PER_SOURCE:
                    del links[next(iter(links))]
                links[key] = req

    def made(self, path: str, id_: str, known: dict[str, str]) -> None:
        """A speculation made ``path`` (normalised), content ``id_``, from
        ``known``: start the links that read it (or a symlink to it)."""
        known = dict(known)
        names = [path]
        real = os.path.realpath(path)
        try:
            with os.scandir(os.path.dirname(path)) as it:  # libuv.so -> libuv.so.1 -> libuv.so.1.0.0
                for e in it:
                    if e.is_symlink() and os.path.realpath(e.path) == real:
                        names.append(e.path)
        except OSError:
            pass
        for name in names:
            known[name] = id_
        with self._lock:
            todo = {k: r for name in names for k, r in self._links.get(name, {}).items()}
        for req in todo.values():
            self._submit(req, known)

    def wait_for(self, req: Request) -> None:
        """Wait for the speculation of this very command, if one is under
        way; one still queued is dropped instead (the request does the work
        itself at once, on an engine that may run hundreds at a time)."""
        key: Key = (req.cwd, req.argv)
        with self._lock:
            if self._queued.pop(key, None) is not None:
                return  # _speculate finds it gone and returns
            ev = self._running.get(key)
        if ev is not None:
            ev.wait(WAIT_S)

    def take(self, thunk_id: str) -> bool:
        """Whether a speculation executed ``thunk_id`` and no request has yet
        taken it (then this one has: it counts as that compile's run)."""
        with self._lock:
            if thunk_id not in self._made:
                return False
            del self._made[thunk_id]
            return True

    # -- the watching side ------------------------------------------------------------
    def _start_watching(self, directory: str) -> None:
        if self._inotify is None:
            from ggcc.daemon.inotify import Inotify

            self._inotify = Inotify()
            self._pool = ThreadPoolExecutor(self._jobs, thread_name_prefix="ggcc-speculate")
            threading.Thread(target=self._listen, name="ggcc-inotify", daemon=True).start()
        self._inotify.watch(directory)

    def _listen(self) -> None:
        assert self._inotify is not None
        while not self._stop.is_set():
            try:
                written = self._inotify.read(0.5)
            except OSError as e:
                if not self._stop.is_set():
                    self._log(f"compiling on save stopped: {e}")
                return
            for directory, name in written or ():  # None: events lost; the build still compiles them
                with self._lock:
                    cmds = list(self._commands.get((directory, name), {}).values())
                for req in cmds:
                    self._submit(req, {})

    def _submit(self, req: Request, known: dict[str, str]) -> None:
        key: Key = (req.cwd, req.argv)
        with self._lock:
            if key in self._queued:  # not started yet: it will read the newest content anyway
                self._queued[key].update(known)
                return
            if len(self._queued) >= QUEUED or self._pool is None:
                return
            self._queued[key] = dict(known)
            ev = threading.Event()
            self._running[key] = ev
        try:
            self._pool.submit(self._speculate, key, req, ev)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._queued.pop(key, None)
            ev.set()

    def _speculate(self, key: Key, req: Request, ev: threading.Event) -> None:
        with self._lock:
            known = self._queued.pop(key, None)
        try:
            if known is None:  # dropped: its request came first
                return
            made = self._run(req, known)
            if made is not None:
                with self._lock:
                    self._made[made] = None
                    if len(self._made) > MAX_USED:
                        self._made.popitem(last=False)
        except Exception as e:  # never the daemon
            self._log(f"compiling on save failed: {e!r}")
        finally:
            with self._lock:
                if self._running.get(key) is ev:
                    del self._running[key]
            ev.set()

    def close(self) -> None:
        self._stop.set()  # the listener ends within its 0.5 s wait; no need to wait for it
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for ev in self._running.values():
                ev.set()  # cancelled ones never ran: nobody may wait for them
        if self._inotify is not None:
            self._inotify.close()
