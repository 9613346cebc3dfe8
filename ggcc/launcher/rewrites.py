"""Sources rewritten the moment their last compile ended: a configure's probes.

A hand-written configure (zlib's, ffmpeg's, x264's, a project's own
script) writes its probes into one file, again and again, and compiles
each version once; autoconf's, CMake's and meson's are known by name
(ggcc/client/probe.py), these only by what they do: the file is rewritten within
QUICK_S of the end of its previous compile, every time. PROBE_STREAK such
rewrites in a row make a probe file: its compiles go to the real compiler
(for STICKY_S after the last one). One such rewrite is enough for
compiling on save to leave the path alone (it would compile the previous
probe's command on every rewrite; a person who saves within QUICK_S of a
build's end loses one compile on save, nothing else).

Measured from the end of the previous compile, not between requests, so
that the rule does not depend on how fast the compiles are: under load a
thunk takes longer, and a rate of requests would let the probes through.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

QUICK_S = 0.3  # configure rewrites within milliseconds; a person takes longer
PROBE_STREAK = 3
STICKY_S = 60.0
MAX_PATHS = 4096

Version = tuple[int, int, int]  # (inode, size, mtime in ns)


class Rewrites:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # path -> (version last compiled, when that compile ended or 0.0 while running, quick rewrites in a row)
        self._seen: OrderedDict[str, tuple[Version, float, int]] = OrderedDict()
        self._probes: dict[str, float] = {}  # path -> when last compiled as a probe

    def begin(self, path: str, version: Version, now: float | None = None) -> int:
        """A compile of ``path`` as it is now starts: how many times in a
        row it was rewritten within QUICK_S of its previous compile's end
        (PROBE_STREAK or more: a probe file). Call ``ended`` after it."""
        t = time.time() if now is None else now
        with self._lock:
            last = self._probes.get(path)
            if last is not None and t - last < STICKY_S:
                self._probes[path] = t
                self._seen.pop(path, None)
                return PROBE_STREAK
            before = self._seen.pop(path, None)
            streak = 0
            if before is not None:
                old, ended, old_streak = before
                if version == old:
                    streak = old_streak  # the same version again (a static and a shared object)
                elif ended and version[2] / 1e9 - ended < QUICK_S:
                    streak = old_streak + 1
            if streak >= PROBE_STREAK:
                self._probes[path] = t
                if len(self._probes) > MAX_PATHS:
                    self._probes = {p: w for p, w in self._probes.items() if t - w < STICKY_S}
                return streak
            self._seen[path] = (version, 0.0, streak)
            if len(self._seen) > MAX_PATHS:
                self._seen.popitem(last=False)
            return streak

    def ended(self, path: str, now: float | None = None) -> None:
        """The compile ``begin`` announced for ``path`` has ended."""
        t = time.time() if now is None else now
        with self._lock:
            seen = self._seen.get(path)
            if seen is not None:
                self._seen[path] = (seen[0], t, seen[2])
