"""A circuit breaker for a remote engine whose fault will not heal by
retrying (a Lambda function that cannot start, a role without access).

Closed, everything passes. Tripped, nothing passes for a spell (the first
``first_s``, doubled at each trip while it stays broken, up to ``max_s``),
and when the spell ends one call passes as a probe while the others still
do not: the probe's success heals it, its failure trips it again.
"""

from __future__ import annotations

import threading
import time


class Breaker:
    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.why = ""  # why it is open ("" closed)
        self.spell_s = 0.0
        self._until = 0.0
        self._probing = False
        self._lock = threading.Lock()

    def may_pass(self) -> bool:
        with self._lock:
            if not self.why:
                return True
            if self._probing or time.monotonic() < self._until:
                return False
            self._probing = True
            return True

    def trip(self, why: str) -> bool:
        """Open it (again) for ``why``; True if it was closed (the first trip)."""
        with self._lock:
            first = not self.why
            self.spell_s = self.first_s if first else min(self.max_s, self.spell_s * 2)
            self._until = time.monotonic() + self.spell_s
            self.why = why
            self._probing = False
            return first

    def heal(self) -> None:
        """A call went through: close it."""
        if self.why or self._probing:
            with self._lock:
                self.why = ""
                self._probing = False
