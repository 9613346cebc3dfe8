"""Small file-system helpers shared by the store, the executor and the CLI.

Every write that another process may read goes through a temporary file in
the same directory and a rename, so readers see the old file or the new one,
never half of one, and a crash leaves at most a stray temporary file.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

_serial = itertools.count()  # next() on it is atomic under the GIL


def open_temp_beside(dest: str, prefix: str = ".ggcc-tmp-", mode: int = 0o600) -> tuple[int, str]:
    """A new file (fd, path) in dest's directory, for a write then a rename
    (or a link). The store's blobs, the build's outputs and depfiles all
    get theirs here.

    The name is this process, thread and a counter: unique among live
    writers, and O_EXCL skips a stray file left by an earlier process with
    the same pid. (Cheaper than tempfile.mkstemp's random names, 0.7 vs
    3 us, though on this machine's disk creating the file itself costs
    0.2-0.4 ms alone and up to 0.8 ms during a build either way.)"""
    d = os.path.dirname(dest) or "."
    while True:
        tmp = f"{d}/{prefix}{os.getpid()}-{threading.get_ident():x}-{next(_serial)}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, make_dirs: bool = False) -> None:
    """Write path whole or not at all. ``make_dirs``: create its directory
    if it is missing, found by trying first: records, hashes and scan
    results are written by the thousand into directories that nearly always
    exist, where a mkdir each was a system call (and on a busy disk up to a
    quarter of a millisecond) for nothing."""
    path = os.fspath(path)
    try:
        fd, tmp = open_temp_beside(path)
    except FileNotFoundError:
        if not make_dirs:
            raise
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd, tmp = open_temp_beside(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def atomic_copy(src: str | os.PathLike[str], dest: str | os.PathLike[str], mode: int = 0o644) -> None:
    """Copy src over dest atomically (dest's directory holds the temp file)."""
    dest = os.fspath(dest)
    tmp = _copy_beside(src, dest, mode)
    try:
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def _copy_beside(src: str | os.PathLike[str], dest: str, mode: int) -> str:
    """A temporary copy of src in dest's directory, with ``mode``."""
    fd, tmp = open_temp_beside(dest)
    try:
        try:
            with open(src, "rb") as inp:
                copy_fd(inp.fileno(), fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    return tmp


def copy_fd(src: int, dest: int) -> None:
    """Everything in src to dest, in the kernel where it can."""
    try:
        while os.sendfile(dest, src, None, 1 << 30):
            pass
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
        while chunk := os.read(src, 1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(dest, view):]


def copy_over_if_unchanged(src: str, dest: str, expected: bytes, mode: int = 0o644) -> os.stat_result | None:
    """Copy src over dest only if dest still holds exactly ``expected``
    (a placeholder): the stat of the file replaced (its atime tells whether
    it was read), or None if dest was moved, removed or rewritten.

    The build tool may `mv` the file at any moment. A check followed by a
    rename would recreate dest after such a move; renameat2's
    RENAME_EXCHANGE needs both names to exist, so a moved dest is never
    recreated, and whatever was swapped out is checked afterwards (and
    swapped back if it was not the placeholder)."""
    tmp = _copy_beside(src, dest, mode)
    try:
        try:
            _exchange(tmp, dest)
        except FileNotFoundError:
            return None
        except OSError:  # no renameat2 here (old kernel, odd file system): check, then rename
            st = os.stat(dest)
            if read_head(dest, len(expected) + 1) != expected:
                return None
            os.replace(tmp, dest)
            return st
        if read_head(tmp, len(expected) + 1) != expected:
            _exchange(tmp, dest)  # the build wrote its own file meanwhile: give it back
            return None
        return os.stat(tmp)
    finally:
        _unlink_quiet(tmp)


def read_head(path: str, size: int) -> bytes | None:
    """The first ``size`` bytes of a file, its atime untouched where the
    kernel allows (O_NOATIME needs the file's owner: placeholders record
    foreign reads in their atime); None if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOATIME)
    except PermissionError:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


_renameat2: object = None


def _exchange(a: str, b: str) -> None:
    """Swap the files at two paths atomically (Linux renameat2)."""
    global _renameat2
    import ctypes

    if _renameat2 is None:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = getattr(libc, "renameat2", None)
        if fn is None:
            raise OSError(errno.ENOSYS, "renameat2 is not available")
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        _renameat2 = fn
    at_fdcwd, rename_exchange = -100, 2
    if _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:  # type: ignore[operator]
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), b)


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


class ParsedFiles(Generic[T]):
    """Small files ggcc writes by rename (manifests, toolchain records),
    parsed once and parsed again only when (inode, size, mtime) changes: the
    daemon reads some on every compile, and a stat is cheaper than a read
    and a parse. A rename gives the file a new inode, so even a rewrite
    within the file system's timestamp granularity is seen."""

    def __init__(self, parse: Callable[[bytes], T], limit: int = 50_000) -> None:
        self._parse = parse
        self._limit = limit
        self._known: dict[str, tuple[tuple[int, int, int], T]] = {}

    def get(self, path: str) -> T:
        """The parsed file; raises what os.stat, open and parse raise."""
        st = os.stat(path)
        sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        known = self._known.get(path)
        if known is not None and known[0] == sig:
            return known[1]
        with open(path, "rb") as f:
            value = self._parse(f.read())
        self._keep(path, sig, value)
        return value

    def remember(self, path: str, value: T) -> None:
        """``value`` is what the file this process just wrote at ``path``
        parses to: the next get() need not read it back. (If another
        writer replaced it in between, its new inode is seen then.)"""
        st = os.stat(path)
        self._keep(path, (st.st_ino, st.st_size, st.st_mtime_ns), value)

    def _keep(self, path: str, sig: tuple[int, int, int], value: T) -> None:
        if len(self._known) >= self._limit:
            self._known.clear()
        self._known[path] = (sig, value)


def gone_under(e: BaseException, root: str) -> bool:
    """e says a file under root was not there: removed as it was used (a
    `ggcc cache clear` by another process, when root is a store)."""
    return isinstance(e, FileNotFoundError) and str(e.filename or "").startswith(root + os.sep)


def link_if_absent(src: str, dest: str) -> bool:
    """Put src at dest unless dest exists (False then): content-addressed
    files are never replaced. Replacing would drop the old inode's link
    count to 0 while other processes still resolve its name, and link(2)
    to such an inode fails with ENOENT: a sandbox could not link a blob
    that exists."""
    try:
        os.link(src, dest)
        return True
    except FileExistsError:
        return False


def stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
