"""A working tree, reused across runs, made to hold exactly one thunk's inputs.

Creating and removing directories is the dearest thing a run does on this
kind of machine (ext4 with online discard: ~55 us per mkdir, ~200 us per
rmdir), and consecutive thunks of one build share most of their tree: the
toolchain, the system headers, the project's include dirs. So a sandbox is
not thrown away after a run. ``prepare`` reconciles the tree with the next
thunk: files it does not want are removed, directories it does not want are
removed, missing ones are made, and a file it wants at the same path with
the same content and mode stays. The tree a command sees is therefore
exactly its inputs, as if fresh; only directory timestamps differ.

Every input is checked against its id when it is placed (the store hashes
a blob unless it knows its bytes unchanged since it last read them, see
local_store.py). What stays is checked, not trusted: before a run, a kept
file whose inode's ctime moved (a write, or a link made or removed
elsewhere) is checked again; after every run ``clean`` walks the
tree and removes everything the command created, replaced or changed.
Inputs are hard links to store blobs, whose mtime ggcc never changes (LRU
recency lives in atime, see local_store.py), so (inode, size, mtime) tells
whether a kept file is still the blob. A change through the link means the
store's copy changed too: ``clean`` reports it so the blob is dropped
and the run failed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass

from ggcc.base.errors import GgccError
from ggcc.storage.local_store import CorruptBlob, LocalStore


@dataclass(frozen=True)
class Wanted:
    vid: str
    executable: bool
    private: bool  # a private copy (the path is also an output), never kept


@dataclass(frozen=True)
class _Placed:
    vid: str
    executable: bool
    private: bool
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int
    mode: int


class Sandbox:
    def __init__(self, parent: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="sbx-", dir=parent)
        self.root = os.path.join(self.dir, "r")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        os.mkdir(self.root)
        self._root_mode = os.lstat(self.root).st_mode
        self._dirs: dict[str, int] = {}  # relative dir -> its mode when made
        self.last_step = ""  # what it last ran (a pool prefers it for that step)
        self._files: dict[str, _Placed] = {}

    # -- before a run ----------------------------------------------------------
    def prepare(self, files: dict[str, Wanted], dirs: set[str], store: LocalStore) -> None:
        """Make the tree hold exactly ``files`` in exactly ``dirs`` (plus their parents)."""
        if not os.path.isdir(self.root):  # removed under us (the store cleared by hand): start afresh
            os.makedirs(self.root)
            self._root_mode = os.lstat(self.root).st_mode
            self._dirs.clear()
            self._files.clear()
        wanted_dirs = _with_parents(dirs | {os.path.dirname(p) for p in files})
        wanted_dirs.discard("")
        for path, placed in list(self._files.items()):
            w = files.get(path)
            if w is None or w.private or placed.private or (placed.vid, placed.executable) != (w.vid, w.executable):
                _unlink(os.path.join(self.root, path))
                del self._files[path]
            elif not self._still_good(path, placed, store):
                _unlink(os.path.join(self.root, path))
                del self._files[path]
        for d in sorted(set(self._dirs) - wanted_dirs, key=_depth, reverse=True):
            _rmtree_or_rmdir(os.path.join(self.root, d))
            del self._dirs[d]
        for d in sorted(wanted_dirs - set(self._dirs), key=_depth):
            full = os.path.join(self.root, d)
            os.mkdir(full)
            self._dirs[d] = os.lstat(full).st_mode
        for path, w in files.items():
            if path in self._files:
                continue
            dest = os.path.join(self.root, path)
            st = store.link_into(w.vid, dest, w.executable, copy=w.private)
            self._files[path] = _Placed(w.vid, w.executable, w.private, st.st_ino, st.st_size, st.st_mtime_ns,
                                        st.st_ctime_ns, st.st_mode)

    def _still_good(self, path: str, placed: _Placed, store: LocalStore) -> bool:
        """A kept input is the same inode, unchanged since it was placed or
        last checked; if its ctime moved, its blob is checked again
        (CorruptBlob if damaged: removed from the store, so the run cannot
        be set up), and must still be the store's own file."""
        try:
            st = os.lstat(os.path.join(self.root, path))
        except FileNotFoundError:
            return False
        if (st.st_ino, st.st_size, st.st_mtime_ns) != (placed.ino, placed.size, placed.mtime_ns):
            return False
        if st.st_ctime_ns != placed.ctime_ns:
            try:
                blob = store.check(placed.vid, placed.executable)
            except CorruptBlob:
                raise  # removed from the store: the run cannot be set up
            except GgccError:  # gone from the store: placing it again says so
                return False
            if blob.st_ino != st.st_ino:
                # The store's file is another one now (the one kept here was
                # found damaged and removed, then stored afresh): what is
                # kept here is not what was checked.
                return False
            self._files[path] = _Placed(placed.vid, placed.executable, placed.private, placed.ino, placed.size,
                                        placed.mtime_ns, st.st_ctime_ns, placed.mode)
        return True

    # -- after a run ------------------------------------------------------------
    def clean(self) -> list[tuple[str, str]]:
        """Remove everything the command made or changed; keep intact inputs.

        Returns (path, value id) of the inputs changed through their hard
        link (same inode, another size or mtime): the store's copy changed
        with them. One walk does both jobs, a stat per file: checking the
        inputs on their own first doubled the cost of a run's aftermath.
        A mode change through the link is undone on the spot: the content
        is intact, and the blob must keep its mode for later runs.
        """
        damaged: list[tuple[str, str]] = []
        try:
            if stat.S_IMODE(os.lstat(self.root).st_mode) != stat.S_IMODE(self._root_mode):
                os.chmod(self.root, stat.S_IMODE(self._root_mode))
            seen_dirs: set[str] = set()
            seen_files: set[str] = set()
            self._walk("", seen_dirs, seen_files, damaged)
        except OSError:
            self.reset()
            return damaged
        for d in set(self._dirs) - seen_dirs:
            del self._dirs[d]
        for f in set(self._files) - seen_files:
            del self._files[f]
        return damaged

    def _walk(self, rel: str, seen_dirs: set[str], seen_files: set[str], damaged: list[tuple[str, str]]) -> None:
        with os.scandir(os.path.join(self.root, rel)) as it:
            entries = list(it)
        for e in entries:
            r = f"{rel}/{e.name}" if rel else e.name
            if e.is_dir(follow_symlinks=False):
                mode = self._dirs.get(r)
                if mode is None:
                    _rmtree_or_rmdir(e.path)
                    continue
                if e.stat(follow_symlinks=False).st_mode != mode:
                    os.chmod(e.path, stat.S_IMODE(mode))
                seen_dirs.add(r)
                self._walk(r, seen_dirs, seen_files, damaged)
                continue
            p = self._files.get(r)
            if p is not None and not p.private:
                st = e.stat(follow_symlinks=False)
                if st.st_ino == p.ino:  # another inode: replaced, the store's copy is untouched
                    if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
                        damaged.append((r, p.vid))
                    else:
                        if st.st_mode != p.mode:
                            os.chmod(e.path, stat.S_IMODE(p.mode))
                        seen_files.add(r)
                        continue
            _unlink(e.path)

    def reset(self) -> None:
        """Start from an empty tree (after anything unexpected)."""
        shutil.rmtree(self.root, onerror=_force_remove)
        os.mkdir(self.root)
        self._root_mode = os.lstat(self.root).st_mode
        self._dirs.clear()
        self._files.clear()

    def destroy(self) -> None:
        shutil.rmtree(self.dir, onerror=_force_remove)


class SandboxPool:
    """Idle sandboxes for reuse, each remembering the step it last ran.

    After an edit, a rebuild runs the same few steps again (the compile,
    then the links after it), each with nearly the same inputs as last
    time: the sandbox that ran the step holds its tree already, where
    another one would swap hundreds of files (a link's ~250 inputs: 10-20
    ms). So a step gets the idle sandbox that last ran it, else the most
    recently used one (consecutive compiles share headers and toolchain),
    and up to ``kept`` sandboxes are kept so that a rebuild's steps each find
    their own."""

    def __init__(self, store: LocalStore, kept: int = 8) -> None:
        self.store = store
        self.kept = kept
        self._free: list[Sandbox] = []  # least recently used first
        self._made = 0  # sandboxes of this pool alive, idle or in use
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, step: str = "") -> Sandbox:
        with self._lock:
            if step:
                for i in range(len(self._free) - 1, -1, -1):
                    if self._free[i].last_step == step:
                        return self._free.pop(i)
            if self._free and self._made >= self.kept:
                return self._free.pop()
            self._made += 1
        return Sandbox(self.store.tmp_dir())

    def release(self, sb: Sandbox, step: str = "") -> None:
        sb.last_step = step
        with self._lock:
            if self._closed:
                victim: Sandbox | None = sb
            else:
                self._free.append(sb)
                victim = self._free.pop(0) if len(self._free) > self.kept else None
            if victim is not None:
                self._made -= 1
        if victim is not None:
            victim.destroy()

    def release_broken(self) -> None:
        """A sandbox of this pool was destroyed instead of released."""
        with self._lock:
            self._made -= 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            free, self._free = self._free, []
        for sb in free:
            sb.destroy()


def _with_parents(dirs: set[str]) -> set[str]:
    out = set()
    for d in dirs:
        while d and d not in out:
            out.add(d)
            d = os.path.dirname(d)
    return out


def _depth(d: str) -> int:
    return d.count("/")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        _rmtree_or_rmdir(path)


def _rmtree_or_rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        shutil.rmtree(path, onerror=_force_remove)


def _force_remove(func, path, exc):  # type: ignore[no-untyped-def]
    # A command may leave read-only directories behind.
    try:
        os.chmod(os.path.dirname(path), 0o755)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o755)
        func(path)
    except FileNotFoundError:
        pass
