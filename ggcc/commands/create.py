"""Making a thunk from a command line and the files it reads (``ggcc thunk``).

The working tree mirrors the current directory: an input ``src/a.c`` is
placed at ``src/a.c``, the command runs at the root, and outputs are paths
relative to it. A file that is a placeholder becomes a reference to the
thunk that will produce it, which is how graphs are built from the shell.
The program goes to ``.ggcc/bin/<name>``; argv[0] stays what the user typed.
"""

from __future__ import annotations

import os
import shutil

from ggcc.base.errors import GgccError
from ggcc.formats import placeholder
from ggcc.formats.thunk import Input, Output, Thunk, ThunkFormatError, check_relpath
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore


def tree_path(path: str, what: str) -> str:
    """A user-given path as a normalized path inside the working tree."""
    if os.path.isabs(path):
        raise GgccError(f"{what} {path!r}: give a path relative to the current directory")
    norm = os.path.normpath(path)
    try:
        check_relpath(norm, what)
    except ThunkFormatError as e:
        raise GgccError(str(e)) from None
    return norm


def file_input(path: str, dest: str, store: LocalStore, hashes: HashCache, executable: bool | None = None) -> Input:
    """An input for a host file: a thunk reference if it is a placeholder."""
    ref = placeholder.read(path)
    if ref is not None:
        return Input(dest, ref, bool(executable))
    try:
        vid = store.put_file(path, hashes.file_id(path))
        x = os.access(path, os.X_OK) if executable is None else executable
    except FileNotFoundError:
        raise GgccError(f"input {path!r}: no such file") from None
    except IsADirectoryError:
        raise GgccError(f"input {path!r}: is a directory; list the files it holds") from None
    except PermissionError:
        raise GgccError(f"input {path!r}: permission denied") from None
    return Input(dest, vid, x)


def thunk_from_command(
    command: list[str],
    inputs: list[str],
    outputs: list[str],
    env: dict[str, str],
    timeout_ms: int,
    store: LocalStore,
    hashes: HashCache,
) -> Thunk:
    if not command:
        raise GgccError("no command given: write it after '--', e.g. ggcc thunk -o out -- cp in out")
    prog = command[0]
    found = prog if "/" in prog else shutil.which(prog)
    if found is None or not os.path.isfile(found):
        raise GgccError(f"program {prog!r}: not found; give its path or put it on PATH")
    if placeholder.read(found) is None and not os.access(found, os.X_OK):
        raise GgccError(f"program {prog!r}: not executable")
    prog_input = file_input(found, f".ggcc/bin/{os.path.basename(found)}", store, hashes, executable=True)
    ins = [file_input(p, tree_path(p, "input"), store, hashes) for p in inputs]
    outs = [Output(t, t) for t in (tree_path(p, "output") for p in outputs)]
    try:
        return Thunk.make(prog_input, command, env, ins, outs, timeout_ms=timeout_ms)
    except ThunkFormatError as e:
        raise GgccError(str(e)) from None
