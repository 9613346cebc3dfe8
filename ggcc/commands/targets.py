"""What ``ggcc force`` and ``ggcc show`` accept, and putting outputs in place.

A target is a placeholder file, a thunk reference (``T...`` or
``T...#tag``), or a file holding a serialized thunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ggcc.base.errors import GgccError
from ggcc.base.fsutil import atomic_copy, file_mode_for, umask
from ggcc.formats import ids, placeholder
from ggcc.formats.result import OutputValue
from ggcc.formats.thunk import ThunkFormatError, is_thunk_bytes, read_thunk_file, split_ref
from ggcc.storage.local_store import LocalStore


class AlreadyReal(GgccError):
    """The target is an ordinary file: its output is already in place."""


@dataclass(frozen=True)
class Target:
    text: str  # as the user wrote it
    ref: str  # T... or T...#tag
    placeholder_path: str | None = None
    placeholder_bytes: bytes = b""


def resolve(text: str, store: LocalStore) -> Target:
    tid, tag = split_ref(text)
    if ids.is_valid_id(tid) and not os.path.exists(text):
        if tid[0] != ids.THUNK:
            raise GgccError(f"{text}: a value id, not a thunk; 'ggcc cat {text}' prints it")
        return Target(text, text)
    try:
        with open(text, "rb") as f:
            head = f.read(placeholder.MAX_SIZE + 1)
    except FileNotFoundError:
        raise GgccError(f"{text}: no such file, and not a thunk id") from None
    except IsADirectoryError:
        raise GgccError(f"{text}: is a directory, not a placeholder or thunk") from None
    if head.startswith(placeholder.MAGIC):
        return Target(text, placeholder.parse(head, text), text, head)
    if is_thunk_bytes(head):
        try:
            data, _ = read_thunk_file(text)
        except ThunkFormatError as e:
            raise GgccError(f"{text}: {e}") from None
        return Target(text, store.put_bytes(data, ids.THUNK))
    raise AlreadyReal(f"{text}: not a placeholder or a thunk (already forced?)")


def write_back(target: Target, value: OutputValue, store: LocalStore) -> bool:
    """Put the real output over the placeholder, atomically.

    Only if the placeholder is still there, unchanged: if something else has
    written the file since, theirs wins. Returns True if written.
    """
    path = target.placeholder_path
    assert path is not None
    try:
        with open(path, "rb") as f:
            if f.read(placeholder.MAX_SIZE + 1) != target.placeholder_bytes:
                return False
    except FileNotFoundError:
        return False
    src = store.path_for_use(value.ref, False)
    atomic_copy(src, path, file_mode_for(value.executable) & ~umask())
    return True

