"""The local store: blobs by content id and results by thunk id, on disk.

Layout under the store root (GGCC_DIR)::

    blobs/ab/<key>      content, read-only (0444); <key> is the id minus its type letter
    blobs/ab/<key>.x    the same content, executable (0555), made on first need
    results/ab/<key>    a successful result of thunk T<key> (JSON)
    hashes/             the file-hash cache (see hash_cache.py)
    removals            rewritten whenever a blob is removed (see memory.py)
    tmp/                temporary files and sandboxes (same file system, so
                        renames into the store and hard links out of it work)

Many processes may write at once: every file is written under a temporary
name and then linked into place only if absent, so the first complete copy
of a blob wins and its inode never changes under a reader (results, which
are not content-addressed, are renamed over).

Nothing is trusted because it is in the store: a blob is checked against
its id whenever it is used, i.e. copied into a build's tree, linked into a
sandbox, or sent to another machine (``check``), at the cost of a stat when
this process knows it unchanged (memory.py). A blob that fails is counted
(``corrupt-blob``), removed, and CorruptBlob raised: the step that wanted it
runs again. Size, eviction and checks of the whole store: upkeep.py.

Recency for LRU eviction is each file's atime, which ggcc sets itself on use
(the kernel's relatime/noatime updates are not relied on), at most once an
hour per file so that a hit costs no write. A blob's mtime never changes
after it is written: sandboxes hard-link blobs and use (inode, size, mtime)
to tell whether a command wrote through a link.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from typing import TYPE_CHECKING, BinaryIO

from ggcc.base import stats
from ggcc.base.errors import GgccError
from ggcc.base.fsutil import copy_fd, link_if_absent, open_temp_beside, stat_or_none, umask
from ggcc.formats import ids
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk, ThunkFormatError, parse_thunk
from ggcc.storage.memory import Checked, Presence

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ggcc.storage.backend import Backend

_RECENCY_GRANULARITY_S = 3600.0
TMP_PREFIX = ".new-"  # files being written; never served, swept by trim
_COPY_WHILE_HASHING = 256 * 1024  # below this, hash first: a blob already stored costs no temporary file


class CorruptBlob(GgccError):
    """A stored blob whose bytes are not its id's; it has been removed."""

    def __init__(self, id_: str, root: str) -> None:
        super().__init__(f"{_kind_name(id_)} {id_} in the store at {root} was corrupt and has been removed")
        self.id = id_


class MissingBlob(GgccError):
    """A blob that is not in the store (trimmed, cleared, removed by hand)."""

    def __init__(self, id_: str, root: str) -> None:
        super().__init__(f"{_kind_name(id_)} {id_} is not in the store at {root}")
        self.id = id_


class LocalStore:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.tmp = os.path.join(self.root, "tmp")
        self._made_dirs: set[str] = set()
        self._present = Presence(self.root)  # ids seen present (see has() and memory.py)
        self._checked = Checked()  # blob files whose bytes are known right (see check())

    # -- paths -----------------------------------------------------------
    def blob_path(self, id_: str) -> str:
        key = ids.store_key(id_)
        return os.path.join(self.root, "blobs", key[:2], key)

    def result_path(self, thunk_id: str) -> str:
        key = ids.store_key(thunk_id)
        return os.path.join(self.root, "results", key[:2], key)

    def _ensure_dir(self, d: str) -> None:
        if d not in self._made_dirs:
            os.makedirs(d, exist_ok=True)
            self._made_dirs.add(d)

    def _link_in(self, src: str, dest: str) -> bool:
        """_link_if_absent, making dest's directory (again) if need be."""
        d = os.path.dirname(dest)
        self._ensure_dir(d)
        try:
            return link_if_absent(src, dest)
        except FileNotFoundError:
            if not os.path.exists(src):
                raise
            self._made_dirs.discard(d)
            self._ensure_dir(d)
            return link_if_absent(src, dest)

    def _open_temp(self, dest: str, mode: int) -> tuple[int, str]:
        """A temporary file beside dest. The directory is made once per
        process, and again if it has gone since (`ggcc cache clear` while
        this process runs)."""
        d = os.path.dirname(dest)
        self._ensure_dir(d)
        try:
            return open_temp_beside(dest, TMP_PREFIX, mode)
        except FileNotFoundError:
            self._made_dirs.discard(d)
            self._made_dirs.discard(self.tmp)
            self._ensure_dir(d)
            return open_temp_beside(dest, TMP_PREFIX, mode)

    def tmp_dir(self) -> str:
        os.makedirs(self.tmp, exist_ok=True)  # not remembered: `ggcc cache clear` may remove it
        return self.tmp

    # -- blobs -------------------------------------------------------------
    def has(self, id_: str) -> bool:
        """True if the blob is present with the size its id promises.

        An id once seen present is remembered (memory.py: a compile asks
        this of each of its ~200 headers, and a stat costs ~10 us). A blob
        removed by hand is found so on use, which fails as it would have
        without the memory (the compile then runs locally)."""
        if self._present.knows(id_):
            return True
        try:
            ok = os.stat(self.blob_path(id_)).st_size == ids.id_size(id_)
        except FileNotFoundError:
            return False
        if ok:
            self._present.seen(id_)
        return ok

    def forget(self) -> None:
        """Drop what this process remembers of the store's content (a blob
        it believed present was not: the store was cleared or trimmed)."""
        self._present.forget()
        self._checked.forget()
        self._made_dirs.clear()

    def removed(self, *ids_: str) -> None:
        """Blobs were removed (these, or any number if none is named):
        forget them here, and tell other processes."""
        self._present.removed(*ids_)
        if not ids_:
            self._checked.forget()

    def put_bytes(self, data: bytes, kind: str = ids.VALUE) -> str:
        id_ = ids.value_id_of_bytes(data)
        if kind == ids.THUNK:
            id_ = ids.as_thunk_id(id_)
        if not self.has(id_):
            self._install(self.blob_path(id_), lambda f: f.write(data), known_good=True)
            self._present.seen(id_)
        return id_

    def put_thunk(self, thunk: Thunk) -> str:
        tid = thunk.id
        if not self.has(tid):
            data = thunk.serialize()
            self._install(self.blob_path(tid), lambda f: f.write(data), known_good=True)
            self._present.seen(tid)
        return tid

    def put_file(self, path: str, id_: str | None = None) -> str:
        """Copy a file into the store (if absent); returns its value id.

        With ``id_`` (the caller hashed the file earlier, maybe through the
        hash cache), the bytes copied are hashed on the way and must match
        it: a file edited since would otherwise be stored under an id that
        is not its content's. GgccError then; nothing is stored.
        """
        if id_ is None:
            if os.stat(path).st_size >= _COPY_WHILE_HASHING:
                return self.put_made(path)
            id_ = ids.hash_file(path)
        if not self.has(id_):
            expected = id_

            def copy(f: BinaryIO) -> None:
                if ids.hash_file(path, expected[0], copy_to=f) != expected:
                    raise GgccError(f"{path}: changed while being stored; retry")

            self._install(self.blob_path(id_), copy, known_good=True)
            self._present.seen(id_)
        return id_

    def put_made(self, path: str) -> str:
        """A file that is usually new (a large input, an object a compile
        just made) in one read: copied to a temporary file while it is
        hashed, then linked in under its id unless the store holds it.
        Hashing first and copying after would read it twice; and the memory
        of blobs seen present is not asked (a `ggcc cache clear` under the
        daemon empties the store a second before the memory knows)."""
        fd, tmp = self._open_temp(os.path.join(self.tmp, "blob"), 0o444)
        try:
            with os.fdopen(fd, "wb") as f:
                id_ = ids.hash_file(path, copy_to=f)
            if umask() & 0o444:
                os.chmod(tmp, 0o444)
            dest = self.blob_path(id_)
            linked = self._link_in(tmp, dest)
        finally:
            self.remove_quiet(tmp)
        if linked:
            self._checked.remember_good(dest)
        self._present.seen(id_)
        return id_

    def adopt_file(self, path: str, id_: str) -> None:
        """Move a file whose id is known into the store (used for outputs)."""
        dest = self.blob_path(id_)
        os.chmod(path, 0o444)
        linked = self._link_in(path, dest)
        self.remove_quiet(path)
        if linked:
            self._checked.remember_good(dest)
        self._present.seen(id_)

    def _install(self, dest: str, write: object, mode: int = 0o444, replace: bool = False,
                 known_good: bool = False) -> None:
        """``write`` fills a new file that then goes to ``dest``;
        ``known_good``: ``write`` checked the bytes against dest's id."""
        try:
            self._install_once(dest, write, mode, replace, known_good)
        except FileNotFoundError:
            # The shard went (with our temporary file) while we wrote: a
            # `ggcc cache clear` by another process. Once more, from scratch.
            self._made_dirs.discard(os.path.dirname(dest))
            self._install_once(dest, write, mode, replace, known_good)

    def _install_once(self, dest: str, write: object, mode: int, replace: bool, known_good: bool) -> None:
        # The temporary file is made in the destination's own shard, so the
        # rename stays within one directory and concurrent writers of
        # different shards do not queue on one directory lock. The mode is
        # set at creation (the open fd may still write): one chmod fewer.
        fd, tmp = self._open_temp(dest, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)  # type: ignore[operator]
            if mode & ~umask() != mode:
                os.chmod(tmp, mode)
            if replace:
                os.replace(tmp, dest)
            else:
                linked = link_if_absent(tmp, dest)
                self.remove_quiet(tmp)  # before remembering: the unlink moves the inode's ctime
                if linked and known_good:
                    self._checked.remember_good(dest)
        except BaseException:
            self.remove_quiet(tmp)
            raise

    def read_bytes(self, id_: str) -> bytes:
        """The blob's content, checked against its id (size and hash)."""
        path = self.blob_path(id_)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self._present.gone(id_)
            raise MissingBlob(id_, self.root) from None
        got = ids.value_id_of_bytes(data)
        if got[1:] != id_[1:]:
            raise self._corrupt(id_)
        return data

    def load_thunk(self, thunk_id: str) -> Thunk:
        if not ids.is_valid_id(thunk_id) or thunk_id[0] != ids.THUNK:
            raise GgccError(f"{thunk_id!r} is not a thunk id")
        data = self.read_bytes(thunk_id)
        try:
            return parse_thunk(data)
        except ThunkFormatError as e:
            raise GgccError(f"thunk {thunk_id}: {e}") from None

    def path_for_use(self, id_: str, executable: bool) -> str:
        """A store path holding the blob, with the executable bit as asked,
        its bytes checked against the id (see ``check``).

        Raises GgccError if the blob is missing, CorruptBlob if it is damaged.
        """
        path = self.blob_path(id_)
        st = self._stat_blob(id_, path)
        self._check(id_, path, st)
        _mark_used(path, st)
        if not executable:
            return path
        xpath = path + ".x"
        try:
            xst = os.stat(xpath)
        except FileNotFoundError:
            # A hard link would share the mode bits, so the executable
            # variant is a copy; only programs need one.
            self._install(xpath, lambda f: self._copy_checked(id_, path, f), 0o555, known_good=True)
            return xpath
        if xst.st_size != st.st_size:
            self.remove_quiet(xpath)
            raise self._corrupt(id_)
        self._check(id_, xpath, xst)
        _mark_used(xpath, xst)
        return xpath

    def check(self, id_: str, executable: bool = False) -> os.stat_result:
        """The blob's bytes (or its executable copy's) are its id's: a
        stat if this process knows them unchanged since it last read or
        wrote them, a hash otherwise. CorruptBlob (and the blob removed) if
        not; MissingBlob if it is missing. Its stat."""
        path = self.blob_path(id_) + (".x" if executable else "")
        st = self._stat_blob(id_, path)
        self._check(id_, path, st)
        return st

    def _stat_blob(self, id_: str, path: str) -> os.stat_result:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._present.gone(id_)
            raise MissingBlob(id_, self.root) from None
        if st.st_size != ids.id_size(id_):
            raise self._corrupt(id_)
        return st

    def _check(self, id_: str, path: str, st: os.stat_result) -> None:
        if self._checked.holds(path, st):
            return
        if ids.hash_file(path)[1:] != id_[1:]:
            raise self._corrupt(id_)
        self._checked.remember(path, st)

    def linked(self, id_: str, executable: bool, st: os.stat_result) -> None:
        """A hard link to the blob was just made (``st``: its stat after):
        making it changed the inode's ctime, not its bytes."""
        self._checked.linked(self.blob_path(id_) + (".x" if executable else ""), st)

    def _corrupt(self, id_: str) -> CorruptBlob:
        """Count, remove (the blob and its executable copy) and say so."""
        stats.record(self.root, stats.Event.CORRUPT_BLOB)
        self.remove_blob(id_)
        return CorruptBlob(id_, self.root)

    def _copy_checked(self, id_: str, src: str, f: BinaryIO) -> None:
        if ids.hash_file(src, copy_to=f)[1:] != id_[1:]:
            raise self._corrupt(id_)

    def copy_out(self, id_: str, f: BinaryIO) -> None:
        """Write the blob's bytes to f (a file just opened), checked: a
        kernel copy when this process knows them unchanged (see check),
        else hashed as they are copied (CorruptBlob after: the caller
        drops what f holds)."""
        path = self.blob_path(id_)
        st = self._stat_blob(id_, path)
        if self._checked.holds(path, st):
            f.flush()
            with open(path, "rb") as src:
                copy_fd(src.fileno(), f.fileno())
        else:
            self._copy_checked(id_, path, f)
            self._checked.remember(path, st)
        _mark_used(path, st)

    def link_into(self, id_: str, dest: str, executable: bool, copy: bool = False) -> os.stat_result:
        """Place the blob at dest, checked: a hard link, or a private copy
        if asked (or if the file system cannot link); dest's stat."""
        src = self.path_for_use(id_, executable)
        if not copy:
            try:
                os.link(src, dest)
                st = os.lstat(dest)
                self.linked(id_, executable, st)
                return st
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.EACCES):
                    raise
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o755 if executable else 0o644)
        return os.lstat(dest)

    def remove_blob(self, id_: str) -> None:
        path = self.blob_path(id_)
        self.remove_quiet(path)
        self.remove_quiet(path + ".x")
        self._checked.drop(path, path + ".x")
        self.removed(id_)

    # -- results -----------------------------------------------------------
    def get_result(self, thunk_id: str) -> Result | None:
        """A cached successful result whose outputs are all still present."""
        path = self.result_path(thunk_id)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            res = Result.from_json(data)
        except ValueError:
            self.remove_quiet(path)  # corrupt: forget it, the thunk re-runs
            return None
        if res.thunk_id != thunk_id or not res.ok:
            self.remove_quiet(path)
            return None
        for o in res.outputs:
            ost = stat_or_none(self.blob_path(o.ref))
            if ost is None or ost.st_size != ids.id_size(o.ref):  # evicted or damaged: not a hit
                self._present.gone(o.ref)
                return None
            _mark_used(self.blob_path(o.ref), ost)
        st = stat_or_none(path)
        if st is not None:
            _mark_used(path, st)
        return res

    # -- the Store interface, alone (store.py; a tier behind: tiered.py) -----
    @property
    def local(self) -> LocalStore:
        return self

    @property
    def shared(self) -> Backend | None:
        return None

    def fetch_blob(self, id_: str) -> bool:
        return self.has(id_)

    def fetch_all(self, blob_ids: list[str], pool: Executor | None = None) -> list[str]:
        return [b for b in blob_ids if not self.has(b)]

    def push_blobs(self, blob_ids: list[str]) -> None:
        pass

    def adopt_result(self, result: Result) -> bool:
        if self.fetch_all([o.ref for o in result.outputs]):
            return False
        self.put_result(result)
        return True

    def get_small(self, key: str) -> bytes | None:
        return None

    def put_small(self, key: str, data: bytes) -> None:
        pass

    def came_from_shared(self, thunk_id: str) -> None:
        pass

    def took_from_shared(self, thunk_id: str) -> bool:
        return False

    def temp_for_blob(self, id_: str) -> str:
        """A new empty file beside where the blob goes, under the prefix
        trim sweeps: for a download to be checked, then adopted."""
        fd, tmp = self._open_temp(self.blob_path(id_), 0o600)
        os.close(fd)
        return tmp

    def put_result(self, result: Result) -> None:
        if not result.ok:
            raise ValueError("only successful results are cached")
        path = self.result_path(result.thunk_id)
        data = result.to_json()
        self._install(path, lambda f: f.write(data), 0o644, replace=True)

    @staticmethod
    def remove_quiet(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass


def _mark_used(path: str, st: os.stat_result) -> None:
    """Record a use for LRU: set atime, keep mtime, at most hourly."""
    now = time.time_ns()
    if now - st.st_atime_ns > _RECENCY_GRANULARITY_S * 1e9:
        try:
            os.utime(path, ns=(now, st.st_mtime_ns))
        except OSError:
            pass


def _kind_name(id_: str) -> str:
    return "thunk" if id_.startswith(ids.THUNK) else "value"
