"""An REAPI cache (bazel-remote, BuildBuddy, Buildbarn, NativeLink, BuildGrid,
a hosted RBE's cache) as the shared store: ``GGCC_STORAGE=grpc://host:port``.

Blobs go to the CAS under their own digests (a ggcc value id is a SHA-256
and a size, as a digest is). REAPI has no key-value store, so a small record
(a result, a launcher manifest) is an ActionCache entry: its key is a
made-up action digest, the SHA-256 of the record's key, and its
ActionResult names the record, a CAS blob, as the output file RECORD. A
result's entry also lists the result's outputs as output files and its
exit code, so that a cache which keeps the blobs an entry refers to alive
(or checks that they exist before answering) treats ggcc's results like
any build tool's.

What comes back is checked: a record against its digest here, and a blob
by the tier above (tiered.py hashes every download), so a blob is not
hashed twice. REAPI cannot delete: a record is "deleted" by writing an
entry without it (the next reader sees a miss), and a blob is left to the
server, which checks every upload against its digest.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import TypeVar

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from ggcc.base.reapi_uri import Access, parse_target
from ggcc.formats import ids
from ggcc.formats.result import Result
from ggcc.storage.backend import ReadOnly, StorageError
from ggcc.storage.reapi_cas import CasConnection, ReapiError, digest, id_of

T = TypeVar("T")

RECORD = "ggcc-record"  # the output file that holds a record's bytes
_KEY_SALT = b"ggcc shared-store record 1\0"  # keeps record keys apart from real Actions'
_TIMEOUT_S = 10.0  # per call; big blobs get longer (reapi_cas.py); the tier retries and then leaves the store alone


def record_action(key: str) -> str:
    """The action digest (as a value id) under which the record ``key`` is kept."""
    return ids.value_id_of_bytes(_KEY_SALT + key.encode())


def _blob_id(key: str) -> str | None:
    """The value id a ``blobs/<store key>`` key names; None for a record key."""
    if not key.startswith("blobs/"):
        return None
    id_ = ids.VALUE + key[len("blobs/"):]
    return id_ if ids.is_valid_id(id_) else None


class ReapiBackend:
    name = "reapi"

    def __init__(self, uri: str, access: Access = Access()) -> None:
        target = parse_target(uri, "GGCC_STORAGE")
        self._where = f"{'grpcs' if target.tls else 'grpc'}://{target.address}" + (
            f" (instance {access.instance!r})" if access.instance else "")
        self.conn = CasConnection(uri, access, timeout_s=_TIMEOUT_S)
        self._opened = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self._where

    def _do(self, fn: Callable[[], T], absent: tuple[str, ...] = (), writing: bool = False) -> T | None:
        """``fn``'s answer, None if it failed with one of the ``absent``
        codes (the server has no such thing); ReadOnly if a write is not
        allowed; StorageError otherwise."""
        try:
            with self._lock:  # GetCapabilities once (the batch limit), again after a failure
                if not self._opened:
                    self.conn.open()
                    self._opened = True
            if writing and not self.conn.ac_updates:
                raise ReadOnly(f"{self._where}: writes refused (the server allows these credentials no "
                               "ActionCache updates)")
            return fn()
        except ReapiError as e:
            if e.code in absent:
                return None
            if writing and e.code in ("PERMISSION_DENIED", "UNIMPLEMENTED", "UNAUTHENTICATED"):
                raise ReadOnly(f"{self._where}: writes refused ({e.code})") from None
            if e.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN"):
                self._opened = False
            raise StorageError(str(e)) from None

    def _key_id(self, key: str) -> str:
        b = _blob_id(key)
        if b is None:
            raise StorageError(f"{self._where}: {key!r} is not a blob key")
        return b

    # -- blobs ------------------------------------------------------------------
    def missing(self, keys: list[str]) -> list[str]:
        blobs = {self._key_id(k): k for k in keys}
        gone = self._do(lambda: self.conn.find_missing(list(blobs)))
        return [blobs[b] for b in gone or ()]

    def put_file(self, key: str, path: str) -> None:
        self.put_files([(key, path)])

    def put_files(self, items: list[tuple[str, str]]) -> None:
        paths = {self._key_id(k): p for k, p in items}

        def read(b: str) -> bytes:
            with open(paths[b], "rb") as f:
                return f.read()

        self._do(lambda: self.conn.upload(list(paths), read, paths.__getitem__), writing=True)

    def get_file(self, key: str, dest: str) -> bool:
        b = self._key_id(key)

        def run() -> bool:
            self.conn.read_to(b, dest, check=False)  # the tier hashes what it gets
            return True

        return self._do(run, absent=("NOT_FOUND",)) is not None

    def delete(self, key: str) -> None:
        if _blob_id(key) is None:
            # An entry without the record: the next reader sees a miss.
            self._do(lambda: self.conn.update_result(record_action(key), re_pb2.ActionResult(exit_code=0)), writing=True)

    # -- records -----------------------------------------------------------------
    def put_small(self, key: str, data: bytes) -> None:
        rid = ids.value_id_of_bytes(data)
        entry = re_pb2.ActionResult(output_files=[re_pb2.OutputFile(path=RECORD, digest=digest(rid))])
        if key.startswith("results/"):
            _describe_result(entry, data)

        def run() -> None:
            self.conn.upload([rid], lambda _: data, lambda _: "")  # a record is far below any batch limit
            self.conn.update_result(record_action(key), entry)

        self._do(run, writing=True)

    def get_small(self, key: str) -> bytes | None:
        entry = self._do(lambda: self.conn.cached_result(record_action(key), inline_files=[RECORD]))
        found = [f for f in entry.output_files if f.path == RECORD] if entry is not None else []
        if not found:
            return None
        f = found[0]
        try:
            rid = id_of(f.digest)
        except ValueError:
            return None
        if f.contents or f.digest.size_bytes == 0:
            data = bytes(f.contents)
            ok = len(data) == f.digest.size_bytes and hashlib.sha256(data).hexdigest() == f.digest.hash
            return data if ok else None  # an entry that lies about its record is a miss
        # The record's blob evicted, or damaged there: a miss.
        return self._do(lambda: self.conn.read(rid), absent=("NOT_FOUND", "DATA_LOSS"))


def _describe_result(entry: re_pb2.ActionResult, data: bytes) -> None:
    """A result's exit code and outputs in its entry, beside the record."""
    try:
        result = Result.from_json(data)
    except ValueError:
        return
    entry.exit_code = result.exit_code
    for i, o in enumerate(result.outputs):
        if ids.is_valid_id(o.ref):
            entry.output_files.add(path=f"outputs/{i}", digest=digest(ids.as_value_id(o.ref)),
                                   is_executable=o.executable)
