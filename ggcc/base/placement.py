"""Writing an output where the build expects it, as the tool that makes it would.

Tools do not all write their outputs the same way, and a build can tell
(`-o /dev/null` in a probe, a symlink to the real object in an out-of-tree
layout, a FIFO read by a wrapper). What each one does, as seen on Debian 12
(binutils 2.40, gcc 12), and what ggcc does the same:

- BFD: ``as`` (a compile's object) and ``ld`` (a link's output). If the
  path's target exists with a non-zero size, a symlink or regular file
  there is unlinked and a new regular file made; otherwise the path is
  opened for writing, which writes through a dangling symlink, into a
  device or into a FIFO.
- FOPEN: cc1's depfile (``-MF``): opened for writing, whatever is there:
  through a symlink, into a device, FIFO or a file shared by hard links.
- AR: ``ar``'s archive: written beside its symlinks' target and renamed
  over it.

ggcc writes a regular (or absent) destination atomically, a temporary file
beside it then a rename, so that a reader never sees half a file (the
tools truncate and write, which ends the same); anything else it writes
as the tool does, and never renames over it. A destination the tool
would fail on or wait on (a directory, a socket, a FIFO nobody reads) is
NotAFile: the caller runs the tool itself.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

BFD, FOPEN, AR = "bfd", "fopen", "ar"


class NotAFile(Exception):
    """The destination is nothing ggcc can write as the tool would."""


@dataclass(frozen=True)
class Plan:
    path: str  # what gets written: the destination, or where its symlinks lead
    into: bool  # write into the existing file (a device, a FIFO, a shared inode), not a rename
    fifo: bool = False


def plan(dest: str, how: str) -> Plan:
    """How the tool would write ``dest`` as things stand; NotAFile if it
    cannot be done here."""
    st = _lstat(dest)
    if st is None or stat.S_ISREG(st.st_mode):
        return _for_file(dest, st, how)
    if stat.S_ISLNK(st.st_mode):
        if how == BFD:
            target = _stat(dest)
            if target is not None and target.st_size != 0:
                return Plan(dest, False)  # unlinked, then made afresh: a rename over the symlink
        path = os.path.realpath(dest)
        st = _lstat(path)
        if st is None or stat.S_ISREG(st.st_mode):
            return _for_file(path, st, how)
        dest = path
    if how != AR and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return Plan(dest, True)
    if how != AR and stat.S_ISFIFO(st.st_mode):
        return Plan(dest, True, fifo=True)
    raise NotAFile(f"{dest}: not a regular file, device or FIFO")


def _for_file(path: str, st: os.stat_result | None, how: str) -> Plan:
    # An opened (not unlinked) file shared by hard links changes for every
    # name: written into, as the tool does.
    shared = st is not None and st.st_nlink > 1 and (how == FOPEN or (how == BFD and st.st_size == 0))
    return Plan(path, shared)


def plain_file(dest: str) -> bool:
    """Absent or a regular file: what a placeholder may stand in for."""
    st = _lstat(dest)
    return st is None or stat.S_ISREG(st.st_mode)


def scratch_dir(dest: str, how: str) -> str:
    """Where to make a temporary file that will become ``dest``: beside
    what the plan renames (one rename, no copy), else the system's."""
    try:
        p = plan(dest, how)
    except NotAFile:
        return tempfile.gettempdir()
    return tempfile.gettempdir() if p.into else (os.path.dirname(p.path) or ".")


def put(dest: str, how: str, mode: int, fill: Callable[[BinaryIO], None] | None = None, made: str = "") -> None:
    """Write ``dest``: its bytes from ``fill`` (which writes them to a
    file), or from ``made``, a temporary file of ours that is moved or
    copied and in any case gone afterwards. ``mode``: for a new file."""
    from ggcc.base.fsutil import open_temp_beside

    assert (fill is None) != (not made)
    try:
        p = plan(dest, how)
        if p.into:
            _write_into(p, fill, made)
            return
        if made and os.path.dirname(os.path.abspath(made)) == os.path.dirname(os.path.abspath(p.path)):
            os.chmod(made, mode)
            os.replace(made, p.path)
            return
        fd, tmp = open_temp_beside(p.path)
        try:
            with os.fdopen(fd, "wb") as f:
                _fill(f, fill, made)
                os.fchmod(f.fileno(), mode)
            os.replace(tmp, p.path)
        except BaseException:
            _unlink_quiet(tmp)
            raise
    finally:
        if made:
            _unlink_quiet(made)


def _write_into(p: Plan, fill: Callable[[BinaryIO], None] | None, made: str) -> None:
    flags = os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC
    if p.fifo:
        flags |= os.O_NONBLOCK  # no reader: the tool would wait for one; let it
    try:
        fd = os.open(p.path, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise NotAFile(f"{p.path}: a FIFO that nobody reads") from None
        raise
    if p.fifo:
        os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as f:
        _fill(f, fill, made)


def _fill(f: BinaryIO, fill: Callable[[BinaryIO], None] | None, made: str) -> None:
    if fill is not None:
        fill(f)
        return
    with open(made, "rb") as src:
        while chunk := src.read(1 << 20):
            f.write(chunk)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
