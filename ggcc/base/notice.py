"""Telling the user something once per build, not once per compile.

A build's launchers ask many times a second; a pause of QUIET_S with no
asking ends a build. So a notice is said by the first launcher after such a
pause, and not by the others: one line in the build's output. The memory
is a small file per notice (its mtime the last time it was asked for),
under GGCC_DIR, or under the system's temporary directory when GGCC_DIR
cannot be written (that may be what the notice is about). flock makes the
check and the update one step, so of launchers starting at once one says it.
"""

from __future__ import annotations

import os

QUIET_S = 10.0


def first_in_build(root: str, what: str) -> bool:
    """Whether to say ``what`` now (and remember that it was asked for)."""
    import fcntl
    import hashlib
    import tempfile
    import time

    name = hashlib.sha256(what.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    for d in (os.path.join(root, "notices"), os.path.join(tempfile.gettempdir(), f"ggcc-{os.getuid()}-notices")):
        path = os.path.join(d, name)
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                return True  # first ever: its creation time is its mtime
            except FileExistsError:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            say = time.time() - os.fstat(fd).st_mtime > QUIET_S
            os.utime(fd)
            return say
        except OSError:
            continue
        finally:
            os.close(fd)
    return True  # nowhere to remember it: better said twice than never
