"""Progress while forcing: a live display on a terminal, plain lines otherwise.

rich is imported only when a terminal is there to show it: it costs tens of
milliseconds to import, and CI logs want plain lines anyway.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from ggcc.engines.scheduler import Listener
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk


def label(thunk: Thunk | None, tid: str) -> str:
    short = tid[:13]
    if thunk is None:
        return short
    prog = thunk.args[0].rsplit("/", 1)[-1]
    outs = " ".join(o.path for o in thunk.outputs[:2])
    return f"{prog} -> {outs} [{short}]" if outs else f"{prog} [{short}]"


class PlainProgress(Listener):
    """One line per event on stderr, for logs and pipes."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.total = 0
        self.done = 0
        self._labels: dict[str, str] = {}

    def discovered(self, count: int) -> None:
        self.total = count

    def hit(self, tid: str) -> None:
        self.done += 1
        self.out.write(f"ggcc: [{self.done}/{self.total}] cached {tid[:13]}\n")

    def started(self, tid: str, thunk: Thunk) -> None:
        self._labels[tid] = label(thunk, tid)

    def finished(self, tid: str, result: Result) -> None:
        self.done += 1
        what = "done" if result.ok else "FAILED"
        ms = result.timings_ms.get("run", 0.0)
        self.out.write(f"ggcc: [{self.done}/{self.total}] {what} {self._labels.pop(tid, tid[:13])} ({ms:.0f} ms)\n")
        self.out.flush()

    def close(self) -> None: ...


class RichProgress(Listener):
    """A live bar: done, running, hits, failures."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._lock = threading.Lock()
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]ggcc force"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.progress.add_task("force", total=0, detail="")
        self.running = self.hits = self.failed = 0
        self.progress.start()
        self._last = 0.0

    def _update(self, advance: int = 0, force: bool = False) -> None:
        now = time.monotonic()
        detail = f"running {self.running}  cached {self.hits}  failed {self.failed}"
        if force or now - self._last > 0.05:
            self._last = now
            self.progress.update(self.task, advance=advance, detail=detail)
        elif advance:
            self.progress.advance(self.task, advance)

    def discovered(self, count: int) -> None:
        self.progress.update(self.task, total=count)

    def hit(self, tid: str) -> None:
        self.hits += 1
        self._update(1)

    def started(self, tid: str, thunk: Thunk) -> None:
        self.running += 1
        self._update()

    def finished(self, tid: str, result: Result) -> None:
        self.running -= 1
        if not result.ok:
            self.failed += 1
        self._update(1)

    def close(self) -> None:
        self._update(force=True)
        self.progress.stop()


def make_progress(quiet: bool) -> Listener:
    if quiet:
        return Listener()
    if sys.stderr.isatty():
        return RichProgress()
    return PlainProgress()


def close(listener: Listener) -> None:
    closer = getattr(listener, "close", None)
    if closer is not None:
        closer()
