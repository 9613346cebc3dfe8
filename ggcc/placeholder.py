"""Placeholders: small files that stand where a thunk's output will be.

Format (ASCII, at most MAX_SIZE bytes)::

    ggcc-placeholder 1
    # <a comment for people who open the file>
    ref T<thunk id>#<tag>

Lines starting with '#' are comments. A placeholder is recognised by its
first line alone, so checking a file costs one small read.
"""

from __future__ import annotations

import os

from ggcc import ids
from ggcc.errors import GgccError
from ggcc.fsutil import atomic_write_bytes

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


def read(path: str) -> str | None:
    """The reference in ``path`` if it is a placeholder, None if it is not.

    A stat first: a link asks this of each of its inputs, and for an object
    file its size answers (3 us here, against 12 us for an open and a read)."""
    try:
        if os.stat(path).st_size > MAX_SIZE:
            return None
        with open(path, "rb") as f:
            head = f.read(MAX_SIZE + 1)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    if not head.startswith(MAGIC) or len(head) > MAX_SIZE:
        return None
    return parse(head, path)


def is_placeholder(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC and os.fstat(f.fileno()).st_size <= MAX_SIZE
    except OSError:
        return False


def write(path: str, ref: str) -> None:
    atomic_write_bytes(path, render(ref))
