"""Sources rewritten faster than anyone edits: a configure's probes.

A hand-written configure (ffmpeg's, x264's, a project's own script) writes
its probes into one file in a temporary directory, again and again, and
compiles each version once; autoconf's, CMake's and meson's are known by
name (ggcc/probe.py), these only by what they do. A path compiled in
PROBE_VERSIONS different versions within WINDOW_S seconds is such a file
(zlib's configure compiles ~30 a second): its compiles go to the real
compiler. Compiling on save leaves a path alone from its second version
within the window (it would compile the previous probe's command on every
rewrite; a person who saves and builds twice within a second loses one
compile on save, nothing else). A person saving and building, even with
an editor that builds on every save, does not come near the probe rate.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

PROBE_VERSIONS = 4
WINDOW_S = 1.0
STICKY_S = 60.0  # once found, a probe file stays one while it is rewritten within this long
MAX_PATHS = 4096

Version = tuple[int, int, int]  # (inode, size, mtime in ns)


class Rewrites:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, list[tuple[float, Version]]] = OrderedDict()
        self._probes: dict[str, float] = {}  # path -> when last compiled as a probe

    def versions(self, path: str, version: Version, now: float | None = None) -> int:
        """Record a compile of ``path`` as it is now; how many different
        versions of it were compiled within WINDOW_S (PROBE_VERSIONS or more:
        a probe file, which stays one while it is rewritten within STICKY_S)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            last = self._probes.get(path)
            if last is not None and t - last < STICKY_S:
                self._probes[path] = t
                return PROBE_VERSIONS
            seen = [(when, v) for when, v in self._seen.pop(path, []) if t - when < WINDOW_S]
            if not seen or seen[-1][1] != version:
                seen.append((t, version))
            self._seen[path] = seen
            if len(self._seen) > MAX_PATHS:
                self._seen.popitem(last=False)
            if len(seen) >= PROBE_VERSIONS:
                del self._seen[path]
                self._probes[path] = t
                if len(self._probes) > MAX_PATHS:
                    self._probes = {p: w for p, w in self._probes.items() if t - w < STICKY_S}
            return len(seen)
