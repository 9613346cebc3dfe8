"""Headers from a credential helper (GGCC_REAPI_CREDENTIAL_HELPER), for
hosted farms whose tokens live an hour: the protocol Bazel's
``--credential_helper`` speaks, so the helpers people already have
(EngFlow's, gcloud wrappers, a team's own) serve ggcc too.

The helper is run as ``HELPER get`` with ``{"uri": "https://host:port"}``
on its stdin and answers ``{"headers": {"Name": ["value", ...]},
"expires": "RFC 3339 time"}`` on its stdout. Its headers are kept until
they expire (else CACHE_S), and asked again at once when the server says
UNAUTHENTICATED (an expired token). Nothing it prints is ever repeated in a
message: only its exit status or what is malformed.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
from datetime import datetime

from ggcc.base.errors import GgccError

CACHE_S = 30 * 60.0  # without "expires": as long as Bazel keeps a helper's answer
_TIMEOUT_S = 30.0
_EARLY_S = 30.0  # asked again this long before "expires": no call goes out with a token about to lapse


class CredentialHelper:
    def __init__(self, command: str, uri: str) -> None:
        self.argv = [*shlex.split(command), "get"]
        self.request = json.dumps({"uri": uri}).encode()
        self._lock = threading.Lock()
        self._headers: tuple[tuple[str, str], ...] = ()
        self._until = 0.0  # monotonic time until which _headers serve

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The helper's headers (run now if none are fresh); GgccError if it fails."""
        with self._lock:
            if time.monotonic() >= self._until:
                self._headers, self._until = self._ask()
            return self._headers

    def forget(self) -> None:
        """The server refused the headers: the next call asks the helper again."""
        with self._lock:
            self._until = 0.0

    def _ask(self) -> tuple[tuple[tuple[str, str], ...], float]:
        name = self.argv[0]
        try:
            p = subprocess.run(self.argv, input=self.request, capture_output=True, timeout=_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            raise GgccError(f"GGCC_REAPI_CREDENTIAL_HELPER: {name} could not run ({type(e).__name__}); "
                            "check the command") from None
        if p.returncode != 0:
            raise GgccError(f"GGCC_REAPI_CREDENTIAL_HELPER: {name} get exited with {p.returncode}; run it by hand "
                            "to see why (logged in? expired?)")
        return parse_answer(p.stdout, time.time(), time.monotonic())


def parse_answer(out: bytes, now: float, now_monotonic: float) -> tuple[tuple[tuple[str, str], ...], float]:
    """The headers in a helper's answer, and the monotonic time until which
    they serve; GgccError (without any of the answer's text) if malformed."""
    bad = GgccError("GGCC_REAPI_CREDENTIAL_HELPER: its answer is not {\"headers\": {name: [values]}} JSON")
    try:
        obj = json.loads(out or b"{}")
    except ValueError:
        raise bad from None
    raw = obj.get("headers", {}) if isinstance(obj, dict) else None
    if not isinstance(raw, dict):
        raise bad
    pairs: list[tuple[str, str]] = []
    for name, values in sorted(raw.items()):
        if not isinstance(name, str) or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise bad
        pairs += [(name.lower(), v) for v in values]
    until = now_monotonic + CACHE_S
    expires = obj.get("expires")
    if isinstance(expires, str):
        try:
            at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise GgccError("GGCC_REAPI_CREDENTIAL_HELPER: its \"expires\" is not an RFC 3339 time") from None
        until = now_monotonic + max(0.0, at - now - _EARLY_S)
    return tuple(pairs), until
