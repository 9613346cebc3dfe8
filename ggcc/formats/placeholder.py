"""Placeholders: small files that stand where a thunk's output will be.

Format (ASCII, at most MAX_SIZE bytes)::

    ggcc-placeholder 1
    # <a comment for people who open the file>
    ref T<thunk id>#<tag>

Lines starting with '#' are comments. A placeholder is recognised by its
first line alone, so checking a file costs one small read.

Whether anything else read a placeholder is told by its atime: it is
written with its atime a second before its mtime, and ggcc reads
placeholders with O_NOATIME (``read_head``), so an atime at or after the
mtime means another program read it (Linux's relatime updates the atime
of a file read since its last change; a file system mounted noatime hides
such reads).
"""

from __future__ import annotations

import os

from ggcc.base.errors import GgccError
from ggcc.base.fsutil import atomic_write_bytes
from ggcc.base.fsutil import read_head as fsutil_read_head
from ggcc.formats import ids

MAGIC = b"ggcc-placeholder 1\n"
MAX_SIZE = 512


def render(ref: str) -> bytes:
    return (
        MAGIC
        + b"# This file stands where the output of a ggcc thunk will be. Run: ggcc force <this file>\n"
        + f"ref {ref}\n".encode("ascii")
    )


def parse(data: bytes, name: str = "placeholder") -> str:
    """The thunk reference a placeholder names; GgccError if it is corrupt."""
    if not data.startswith(MAGIC):
        raise GgccError(f"{name}: not a ggcc placeholder")
    ref = ""
    for line in data[len(MAGIC):].decode("ascii", "replace").splitlines():
        if line.startswith("ref "):
            ref = line[4:].strip()
    tid = ref.partition("#")[0]
    if not ids.is_valid_id(tid) or tid[0] != ids.THUNK or not data.endswith(b"\n"):
        raise GgccError(f"{name}: corrupt or truncated placeholder; recreate it by re-running the build step")
    return ref


def read_head(path: str, size: int = MAX_SIZE + 1) -> bytes | None:
    """The first ``size`` bytes of a file, its atime untouched where the
    kernel allows (the file is ours); None if it cannot be read."""
    return fsutil_read_head(path, size)


def read(path: str) -> str | None:
    """The reference in ``path`` if it is a placeholder, None if it is not.

    A stat first: a link asks this of each of its inputs, and for an object
    file its size answers (3 us here, against 12 us for an open and a read)."""
    try:
        if os.stat(path).st_size > MAX_SIZE:
            return None
    except (FileNotFoundError, NotADirectoryError):
        return None
    head = read_head(path)
    if head is None or not head.startswith(MAGIC) or len(head) > MAX_SIZE:
        return None
    return parse(head, path)


def is_placeholder(path: str) -> bool:
    head = read_head(path)
    return head is not None and head.startswith(MAGIC) and len(head) <= MAX_SIZE


def write(path: str, ref: str) -> None:
    atomic_write_bytes(path, render(ref))
    st = os.stat(path)
    os.utime(path, ns=(st.st_mtime_ns - 1_000_000_000, st.st_mtime_ns))  # unread (see the module's docstring)


def was_read(st: os.stat_result) -> bool:
    """Whether a placeholder with this stat was read by another program."""
    return st.st_atime_ns >= st.st_mtime_ns
