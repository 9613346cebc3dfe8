"""Linux inotify, through ctypes: which files of watched directories were
just written or moved in.

Only the daemon imports this (ctypes is not on the launcher's path). A
directory is watched, not a file: an editor that saves by writing a new
file and renaming it over the old one replaces the file's inode, and a
watch on that inode would hear nothing after the first save.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
import threading

IN_CLOSE_WRITE = 0x00000008  # a file opened for writing was closed
IN_MOVED_TO = 0x00000080  # a file was renamed into the directory
IN_Q_OVERFLOW = 0x00004000  # the kernel's queue overflowed: events were lost
IN_IGNORED = 0x00008000  # the watch is gone (its directory was removed)
IN_ONLYDIR = 0x01000000

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name, NUL-padded
_WRITTEN = IN_CLOSE_WRITE | IN_MOVED_TO


class Inotify:
    """One inotify instance; OSError from the constructor where there is none."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_init1: {os.strerror(e)}")
        self.fd: int = fd
        self._lock = threading.Lock()  # watch() and read() run on different threads
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory
        self._wds: dict[str, int] = {}  # directory -> watch descriptor

    def watching(self, directory: str) -> bool:
        with self._lock:
            return directory in self._wds

    def watch(self, directory: str) -> None:
        """Hear of files written in ``directory`` (again: no effect)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _WRITTEN | IN_ONLYDIR)
        if wd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_add_watch {directory}: {os.strerror(e)}")
        with self._lock:
            self._dirs[wd] = directory
            self._wds[directory] = wd

    def read(self, timeout: float) -> list[tuple[str, str]] | None:
        """(directory, name) of the files written since the last read, after
        waiting at most ``timeout`` seconds for one; None if the kernel lost
        events (the caller cannot know which)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        out: list[tuple[str, str]] = []
        lost = False
        pos = 0
        with self._lock:
            while pos + _EVENT.size <= len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size:pos + _EVENT.size + size].rstrip(b"\0")
                pos += _EVENT.size + size
                if mask & IN_Q_OVERFLOW:
                    lost = True
                elif mask & IN_IGNORED:  # its directory was removed: watch it again if it comes back
                    gone = self._dirs.pop(wd, None)
                    if gone is not None and self._wds.get(gone) == wd:
                        del self._wds[gone]
                elif mask & _WRITTEN and name and wd in self._dirs:
                    out.append((self._dirs[wd], os.fsdecode(name)))
        return None if lost else out

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError as e:
            if e.errno != errno.EBADF:
                raise
