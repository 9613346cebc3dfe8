"""One connection to an REAPI server's CAS and ActionCache, over grpcio:
what the grpc:// storage tier (reapi_backend.py) uses, and what the REAPI
engine's connection (reapi/client.py) adds Execute to.

Blobs are named by ggcc value ids (both are SHA-256 and a size): a store's
blob is a CAS blob without translation. Batches are cut by bytes, never
over the server's own limit (from GetCapabilities); a blob too big for a
batch goes through ByteStream, in chunks, from and to its file rather than
held whole. Every blob read is checked against its digest before anyone
sees it.

The address names the server only (``grpc://host:port``, ``grpcs://`` for
TLS); an instance name and the headers a hosted service wants (a bearer
token, an API key) come from settings, never inside the URI, so they stay
out of logs and error messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence

import grpc
from google.protobuf.message import Message

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid.common.protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
from ggcc import __version__
from ggcc.base.errors import GgccError
from ggcc.base.reapi_uri import CERT_WITHOUT_KEY, Access, TlsFiles, parse_target
from ggcc.formats import ids
from ggcc.storage.reapi_credentials import CredentialHelper

CHUNK = 1 << 20  # ByteStream's chunk: what servers commonly accept
DEFAULT_BATCH = 4 << 20  # when the server does not say
_OVERHEAD = 1024  # a batch request's bytes besides its blobs
_PER_BLOB = 100  # each blob's digest and framing in a batch


def digest(id_: str) -> re_pb2.Digest:
    _, sha, size = ids.parse_id(id_)
    return re_pb2.Digest(hash=sha, size_bytes=size)


def id_of(d: re_pb2.Digest) -> str:
    """A digest as a value id (ValueError if it is not a SHA-256 one)."""
    id_ = ids.make_id(ids.VALUE, d.hash, d.size_bytes)
    if len(d.hash) != 64 or d.size_bytes < 0 or not ids.is_valid_id(id_):
        raise ValueError(f"not a SHA-256 digest: {d.hash!r}/{d.size_bytes}")
    return id_


def serialize(msg: Message) -> bytes:
    data: bytes = msg.SerializeToString(deterministic=True)
    return data


class ReapiError(GgccError):
    """The server could not be reached or refused a call; ``code`` is gRPC's."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def code_of(e: grpc.RpcError) -> str:
    code = e.code() if isinstance(e, grpc.Call) else None
    return code.name if code is not None else "UNKNOWN"


def _credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    def pem(setting: str, path: str) -> bytes | None:
        if not path:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise GgccError(f"{setting}: cannot read {path}: {e.strerror}") from None

    if bool(tls.cert) != bool(tls.key):  # grpc would abort the process
        raise GgccError(CERT_WITHOUT_KEY)
    return grpc.ssl_channel_credentials(pem("GGCC_REAPI_TLS_CA", tls.ca), pem("GGCC_REAPI_TLS_KEY", tls.key),
                                        pem("GGCC_REAPI_TLS_CERT", tls.cert))


class CasConnection:
    def __init__(self, uri: str, access: Access = Access(), timeout_s: float = 60.0) -> None:
        target = parse_target(uri)
        self._helper = None if not access.credential_helper else CredentialHelper(
            access.credential_helper, f"{'https' if target.tls else 'http'}://{target.address}")
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        if target.tls:
            self.channel = grpc.secure_channel(target.address, _credentials(access.tls), options)
        else:
            self.channel = grpc.insecure_channel(target.address, options)
        self.where = target.address
        self.instance = access.instance
        self.timeout_s = timeout_s
        self._headers = access.headers
        self.cas = re_grpc.ContentAddressableStorageStub(self.channel)
        self.ac = re_grpc.ActionCacheStub(self.channel)
        self.bytestream = bytestream_pb2_grpc.ByteStreamStub(self.channel)
        self.capabilities = re_grpc.CapabilitiesStub(self.channel)
        self.max_batch = DEFAULT_BATCH
        self.ac_updates = True  # whether the server lets this client write ActionCache entries

    def metadata(self, action_id: str = "") -> tuple[tuple[str, bytes | str], ...]:
        meta = re_pb2.RequestMetadata(tool_details=re_pb2.ToolDetails(tool_name="ggcc", tool_version=__version__),
                                      action_id=action_id[1:65] if action_id else "")
        try:
            helped = self._helper.headers() if self._helper is not None else ()
        except GgccError as e:  # as the server would say it: the engine and the store treat it so
            raise ReapiError(e.message, "UNAUTHENTICATED") from None
        return (*self._headers, *helped, ("build.bazel.remote.execution.v2.requestmetadata-bin", serialize(meta)))

    def refused_credentials(self, code: str) -> bool:
        """Whether an answer with ``code`` may be mended by asking the
        credential helper again (an expired token); forgets its headers if so."""
        if code != "UNAUTHENTICATED" or self._helper is None:
            return False
        self._helper.forget()
        return True

    def _call(self, what: str, fn: Callable[[], object]) -> object:
        for attempt in (1, 2):
            try:
                return fn()
            except grpc.RpcError as e:
                if attempt == 1 and self.refused_credentials(code_of(e)):
                    continue  # once, with the helper's fresh headers
                detail = e.details() if isinstance(e, grpc.Call) else str(e)
                raise ReapiError(f"REAPI server {self.where}: {what}: {code_of(e)} {detail}", code_of(e)) from None
        raise AssertionError("unreachable")

    def open(self) -> None:
        """Ask what the server allows (GetCapabilities); ReapiError if it cannot."""
        caps = self._call("GetCapabilities", lambda: self.capabilities.GetCapabilities(
            re_pb2.GetCapabilitiesRequest(instance_name=self.instance), timeout=self.timeout_s, metadata=self.metadata()))
        assert isinstance(caps, re_pb2.ServerCapabilities)
        limit = caps.cache_capabilities.max_batch_total_size_bytes
        self.max_batch = min(limit, DEFAULT_BATCH) if limit > 0 else DEFAULT_BATCH
        updates = caps.cache_capabilities.action_cache_update_capabilities
        self.ac_updates = updates.update_enabled if caps.cache_capabilities.HasField(
            "action_cache_update_capabilities") else True
        fns = caps.cache_capabilities.digest_function
        if fns and re_pb2.DigestFunction.SHA256 not in fns:
            raise ReapiError(f"REAPI server {self.where} does not take SHA-256 digests")

    # -- CAS ---------------------------------------------------------------
    def find_missing(self, blob_ids: Sequence[str]) -> list[str]:
        missing: list[str] = []
        for start in range(0, len(blob_ids), 4096):  # a request's size is bounded too
            part = blob_ids[start:start + 4096]
            req = re_pb2.FindMissingBlobsRequest(instance_name=self.instance, blob_digests=[digest(b) for b in part])
            resp = self._call("FindMissingBlobs", lambda: self.cas.FindMissingBlobs(
                req, timeout=self.timeout_s, metadata=self.metadata()))
            assert isinstance(resp, re_pb2.FindMissingBlobsResponse)
            missing += [id_of(d) for d in resp.missing_blob_digests]
        return missing

    def upload(self, blob_ids: Sequence[str], read: Callable[[str], bytes], path: Callable[[str], str]) -> None:
        """Put these blobs in the CAS: ``read`` gives a small one's bytes,
        ``path`` a big one's file (streamed)."""
        batch: list[tuple[str, bytes]] = []
        size = 0
        for b in blob_ids:
            n = ids.id_size(b)
            if n + _PER_BLOB + _OVERHEAD > self.max_batch:
                self._write_stream(b, path(b))
                continue
            if size + n + _PER_BLOB + _OVERHEAD > self.max_batch:
                self._batch_update(batch)
                batch, size = [], 0
            batch.append((b, read(b)))
            size += n + _PER_BLOB
        if batch:
            self._batch_update(batch)

    def _batch_update(self, blobs: list[tuple[str, bytes]]) -> None:
        req = re_pb2.BatchUpdateBlobsRequest(instance_name=self.instance, requests=[
            re_pb2.BatchUpdateBlobsRequest.Request(digest=digest(b), data=data) for b, data in blobs])
        resp = self._call("BatchUpdateBlobs", lambda: self.cas.BatchUpdateBlobs(
            req, timeout=self.timeout_s, metadata=self.metadata()))
        assert isinstance(resp, re_pb2.BatchUpdateBlobsResponse)
        for r in resp.responses:
            if r.status.code != 0:
                raise ReapiError(f"REAPI server {self.where}: BatchUpdateBlobs refused {r.digest.hash}: {r.status.message}")

    def _write_stream(self, blob: str, path: str) -> None:
        _, sha, size = ids.parse_id(blob)
        name = f"{self.instance + '/' if self.instance else ''}uploads/{uuid.uuid4()}/blobs/{sha}/{size}"

        def chunks() -> Iterator[bytestream_pb2.WriteRequest]:
            with open(path, "rb") as f:
                offset = 0
                while True:
                    data = f.read(CHUNK)
                    last = offset + len(data) >= size
                    yield bytestream_pb2.WriteRequest(resource_name=name if offset == 0 else "", write_offset=offset,
                                                      data=data, finish_write=last)
                    offset += len(data)
                    if last or not data:
                        return

        self._call("ByteStream.Write", lambda: self.bytestream.Write(
            chunks(), timeout=max(self.timeout_s, size / (1 << 20)), metadata=self.metadata()))

    def read(self, blob: str) -> bytes:
        """A CAS blob, checked against its digest (ReapiError if absent or wrong)."""
        chunks: list[bytes] = []
        self._read(blob, chunks.append)
        data = b"".join(chunks)
        if ids.value_id_of_bytes(data) != ids.as_value_id(blob):
            raise self._mismatch(blob)
        return data

    def read_to(self, blob: str, dest: str, check: bool = True) -> None:
        """A CAS blob written to ``dest``, a big one streamed (ReapiError if
        absent); checked against its digest unless the caller checks it."""
        with open(dest, "wb") as f:
            self._read(blob, f.write)
        if check and ids.hash_file(dest) != ids.as_value_id(blob):
            raise self._mismatch(blob)

    def _read(self, blob: str, sink: Callable[[bytes], object]) -> None:
        """Give the blob's bytes to ``sink``, unchecked: one piece from a
        batch read, or ByteStream's chunks for a big one."""
        _, sha, size = ids.parse_id(blob)
        if size == 0:
            return
        if size + _PER_BLOB + _OVERHEAD <= self.max_batch:
            req = re_pb2.BatchReadBlobsRequest(instance_name=self.instance, digests=[digest(blob)])
            resp = self._call("BatchReadBlobs", lambda: self.cas.BatchReadBlobs(
                req, timeout=self.timeout_s, metadata=self.metadata()))
            assert isinstance(resp, re_pb2.BatchReadBlobsResponse)
            found = [r for r in resp.responses if r.status.code == 0 and r.digest.hash == sha]
            if not found:
                raise ReapiError(f"REAPI server {self.where}: blob {sha} not in its CAS", "NOT_FOUND")
            sink(found[0].data)
            return
        name = f"{self.instance + '/' if self.instance else ''}blobs/{sha}/{size}"

        def run() -> None:
            for r in self.bytestream.Read(bytestream_pb2.ReadRequest(resource_name=name),
                                          timeout=max(self.timeout_s, size / (1 << 20)), metadata=self.metadata()):
                sink(r.data)

        self._call("ByteStream.Read", run)

    def _mismatch(self, blob: str) -> ReapiError:
        return ReapiError(f"REAPI server {self.where}: blob {blob[1:65]} does not match its digest", "DATA_LOSS")

    # -- ActionCache -----------------------------------------------------------
    def cached_result(self, action_id: str, inline_files: Sequence[str] = ()) -> re_pb2.ActionResult | None:
        """The ActionCache's entry for an Action (None if it has none);
        stdout, stderr and ``inline_files`` asked inline (a server may
        still answer with digests only)."""
        req = re_pb2.GetActionResultRequest(instance_name=self.instance, action_digest=digest(action_id),
                                            inline_stdout=True, inline_stderr=True, inline_output_files=inline_files)
        try:
            resp = self._call("GetActionResult", lambda: self.ac.GetActionResult(
                req, timeout=self.timeout_s, metadata=self.metadata(action_id)))
        except ReapiError as e:
            if e.code == "NOT_FOUND":
                return None
            raise
        assert isinstance(resp, re_pb2.ActionResult)
        return resp

    def update_result(self, action_id: str, result: re_pb2.ActionResult) -> None:
        """Write the ActionCache's entry for an Action (its blobs already in the CAS)."""
        req = re_pb2.UpdateActionResultRequest(instance_name=self.instance, action_digest=digest(action_id),
                                               action_result=result)
        self._call("UpdateActionResult", lambda: self.ac.UpdateActionResult(
            req, timeout=self.timeout_s, metadata=self.metadata(action_id)))

    def close(self) -> None:
        self.channel.close()
