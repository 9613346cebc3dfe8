"""Small file-system helpers shared by the store, the executor and the CLI.

Every write that another process may read goes through a temporary file in
the same directory and a rename, so readers see the old file or the new one,
never half of one, and a crash leaves at most a stray temporary file.
"""

from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".ggcc-tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def atomic_copy(src: str | os.PathLike[str], dest: str | os.PathLike[str], mode: int = 0o644) -> None:
    """Copy src over dest atomically (dest's directory holds the temp file)."""
    import shutil

    dest = os.fspath(dest)
    d = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".ggcc-tmp-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


_umask_value: int | None = None


def umask() -> int:
    """The process umask (read once: reading it means setting it)."""
    global _umask_value
    if _umask_value is None:
        _umask_value = os.umask(0)
        os.umask(_umask_value)
    return _umask_value


def file_mode_for(executable: bool) -> int:
    return 0o755 if executable else 0o644
