"""Where ggcc keeps its state, and the knobs users set through the environment.

GGCC_DIR       the local store and daemon state; default $XDG_CACHE_HOME/ggcc
               (or ~/.cache/ggcc)
GGCC_MAX_SIZE  the local store's size limit, e.g. 500M, 20G; default 5G
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not `from typing`: the launcher's client imports this module

from ggcc.base.errors import GgccError

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_MAX_SIZE = 5 << 30
MIN_FREE = 64 << 20  # below this much free space, GGCC_DIR counts as full: a half-written store helps no one


def ggcc_dir(env: Mapping[str, str] | None = None) -> str:
    e = os.environ if env is None else env
    d = e.get("GGCC_DIR")
    if d:
        return os.path.abspath(d)
    cache = e.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(cache), "ggcc")


def parse_size(text: str) -> int:
    """'500M' -> 524288000; plain numbers are bytes. GgccError if malformed."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1 << (10 * ("KMGT".index(t[-1]) + 1))
        t = t[:-1]
    try:
        n = float(t)
    except ValueError:
        raise GgccError(f"size {text!r} is not a size: write a number with K, M, G or T, e.g. 20G") from None
    if n < 0:
        raise GgccError(f"size {text!r} is negative")
    return int(n * mult)


def human_size(n: int) -> str:
    """Bytes as people read them, in the binary units parse_size reads."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def max_size() -> int:
    v = os.environ.get("GGCC_MAX_SIZE")
    return parse_size(v) if v else DEFAULT_MAX_SIZE


def strict_sandbox(env: Mapping[str, str] | None = None) -> bool:
    """GGCC_SANDBOX=strict: every thunk in bubblewrap with only its inputs."""
    return (os.environ if env is None else env).get("GGCC_SANDBOX") == "strict"


def default_jobs() -> int:
    return os.cpu_count() or 1


def dir_problem(root: str) -> str:
    """Why the directory ``root`` cannot hold ggcc's state (missing and not
    creatable, read-only, full), or "" if it can."""
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        st = os.statvfs(root)
    except OSError as e:
        return e.strerror or str(e)
    if st.f_flag & os.ST_RDONLY:
        return "read-only file system"
    if not os.access(root, os.W_OK | os.X_OK):
        return "not writable"
    free = st.f_bavail * st.f_frsize
    if free < MIN_FREE:
        return f"full: {free >> 10} KiB free"
    return ""
