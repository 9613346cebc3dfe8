"""When a thunk sent away is a straggler, sent a second time (the first
answer wins): one rule for the farm and for Lambda.

A thunk is a straggler once it has taken 4x the median of the recent
answers, and at least ``floor_s`` (compiles vary: a short median must not
make every long compile a straggler). Until ``warmup`` answers are known
there is no median to trust, and nothing is a straggler. A fixed time (a
setting) replaces the rule.
"""

from __future__ import annotations

import threading
from collections import deque


class Stragglers:
    def __init__(self, floor_s: float, fixed_s: float | None = None, warmup: int = 10, keep: int = 100) -> None:
        self.floor_s = floor_s
        self.fixed_s = fixed_s
        self.warmup = max(1, warmup)
        self._times: deque[float] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def answered(self, seconds: float) -> None:
        """One more answer, after ``seconds``."""
        with self._lock:
            self._times.append(seconds)

    def patience(self) -> float | None:
        """Seconds after which a thunk not answered is sent again; None:
        never (too few answers yet to tell)."""
        if self.fixed_s is not None:
            return self.fixed_s
        with self._lock:
            recent = sorted(self._times)
        if len(recent) < self.warmup:
            return None
        return max(self.floor_s, 4 * recent[len(recent) // 2])
