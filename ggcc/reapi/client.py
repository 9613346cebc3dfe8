"""One connection to an REAPI server: its CAS, ActionCache and Execution
services, over grpcio.

Blobs are named by ggcc value ids (action.py: both are SHA-256 and a size).
Batches are cut by bytes, never over the server's own limit (from
GetCapabilities); a blob too big for a batch goes through ByteStream, in
chunks, read from its file rather than held whole. Every blob read is
checked against its digest before anyone sees it.

The address names the server only (``grpc://host:port``, ``grpcs://`` for
TLS); an instance name and the headers a hosted service wants (a bearer
token, an API key) come from settings, never inside the URI, so they stay
out of logs and error messages.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import grpc

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid.common.protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
from buildgrid.common.protos.google.longrunning import operations_pb2
from ggcc import __version__
from ggcc.base.errors import GgccError
from ggcc.formats import ids
from ggcc.reapi.action import digest, id_of, serialize
from ggcc.base.reapi_uri import parse_target

CHUNK = 1 << 20  # ByteStream's chunk: what servers commonly accept
DEFAULT_BATCH = 4 << 20  # when the server does not say
_REDIAL_S = (0.2, 0.5, 1.0, 2.0)  # waits before WaitExecution after a dropped stream
_OVERHEAD = 1024  # a batch request's bytes besides its blobs
_PER_BLOB = 100  # each blob's digest and framing in a batch


class ReapiError(GgccError):
    """The server could not be reached or refused a call; ``code`` is gRPC's."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def _code(e: grpc.RpcError) -> str:
    code = e.code() if isinstance(e, grpc.Call) else None
    return code.name if code is not None else "UNKNOWN"


class Connection:
    def __init__(self, uri: str, instance: str = "", headers: Sequence[tuple[str, str]] = (),
                 timeout_s: float = 60.0) -> None:
        target = parse_target(uri)
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        if target.tls:
            self.channel = grpc.secure_channel(target.address, grpc.ssl_channel_credentials(), options)
        else:
            self.channel = grpc.insecure_channel(target.address, options)
        self.where = target.address
        self.instance = instance
        self.timeout_s = timeout_s
        self._headers = tuple((k.lower(), v) for k, v in headers)
        self.cas = re_grpc.ContentAddressableStorageStub(self.channel)
        self.ac = re_grpc.ActionCacheStub(self.channel)
        self.execution = re_grpc.ExecutionStub(self.channel)
        self.bytestream = bytestream_pb2_grpc.ByteStreamStub(self.channel)
        self.capabilities = re_grpc.CapabilitiesStub(self.channel)
        self.max_batch = DEFAULT_BATCH

    def metadata(self, action_id: str = "") -> tuple[tuple[str, bytes | str], ...]:
        meta = re_pb2.RequestMetadata(tool_details=re_pb2.ToolDetails(tool_name="ggcc", tool_version=__version__),
                                      action_id=action_id[1:65] if action_id else "")
        return (*self._headers, ("build.bazel.remote.execution.v2.requestmetadata-bin", serialize(meta)))

    def _call(self, what: str, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except grpc.RpcError as e:
            detail = e.details() if isinstance(e, grpc.Call) else str(e)
            raise ReapiError(f"REAPI server {self.where}: {what}: {_code(e)} {detail}", _code(e)) from None

    def open(self) -> None:
        """Ask what the server allows (GetCapabilities); ReapiError if it cannot."""
        caps = self._call("GetCapabilities", lambda: self.capabilities.GetCapabilities(
            re_pb2.GetCapabilitiesRequest(instance_name=self.instance), timeout=self.timeout_s, metadata=self.metadata()))
        assert isinstance(caps, re_pb2.ServerCapabilities)
        limit = caps.cache_capabilities.max_batch_total_size_bytes
        self.max_batch = min(limit, DEFAULT_BATCH) if limit > 0 else DEFAULT_BATCH
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
        _, sha, size = ids.parse_id(blob)
        if size == 0:
            return b""
        if size + _PER_BLOB + _OVERHEAD <= self.max_batch:
            req = re_pb2.BatchReadBlobsRequest(instance_name=self.instance, digests=[digest(blob)])
            resp = self._call("BatchReadBlobs", lambda: self.cas.BatchReadBlobs(
                req, timeout=self.timeout_s, metadata=self.metadata()))
            assert isinstance(resp, re_pb2.BatchReadBlobsResponse)
            found = [r for r in resp.responses if r.status.code == 0 and r.digest.hash == sha]
            if not found:
                raise ReapiError(f"REAPI server {self.where}: blob {sha} not in its CAS", "NOT_FOUND")
            data = found[0].data
        else:
            name = f"{self.instance + '/' if self.instance else ''}blobs/{sha}/{size}"

            def whole() -> bytes:
                return b"".join(r.data for r in self.bytestream.Read(
                    bytestream_pb2.ReadRequest(resource_name=name), timeout=max(self.timeout_s, size / (1 << 20)),
                    metadata=self.metadata()))

            got = self._call("ByteStream.Read", whole)
            assert isinstance(got, bytes)
            data = got
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            raise ReapiError(f"REAPI server {self.where}: blob {sha} does not match its digest", "DATA_LOSS")
        return data

    # -- ActionCache and Execution -------------------------------------------
    def cached_result(self, action_id: str) -> re_pb2.ActionResult | None:
        req = re_pb2.GetActionResultRequest(instance_name=self.instance, action_digest=digest(action_id),
                                            inline_stdout=True, inline_stderr=True)
        try:
            resp = self.ac.GetActionResult(req, timeout=self.timeout_s, metadata=self.metadata(action_id))
        except grpc.RpcError as e:
            if _code(e) == "NOT_FOUND":
                return None
            raise ReapiError(f"REAPI server {self.where}: GetActionResult: {_code(e)}", _code(e)) from None
        assert isinstance(resp, re_pb2.ActionResult)
        return resp

    def execute(self, action_id: str, deadline_s: float) -> re_pb2.ExecuteResponse:
        """Run the Action within ``deadline_s`` in all; a dropped stream is
        picked up with WaitExecution."""
        req = re_pb2.ExecuteRequest(instance_name=self.instance, action_digest=digest(action_id), skip_cache_lookup=True)
        end = time.monotonic() + deadline_s
        name = ""
        drops = 0
        while True:
            left = end - time.monotonic()
            try:
                if left <= 0:
                    raise ReapiError(f"REAPI server {self.where}: Execute: no answer within {deadline_s:g} s",
                                     "DEADLINE_EXCEEDED")
                stream = (self.execution.Execute(req, timeout=left, metadata=self.metadata(action_id)) if not name
                          else self.execution.WaitExecution(re_pb2.WaitExecutionRequest(name=name), timeout=left,
                                                            metadata=self.metadata(action_id)))
                for op in stream:
                    assert isinstance(op, operations_pb2.Operation)
                    name = op.name or name
                    if op.done:
                        return _response(op, self.where)
            except grpc.RpcError as e:
                # The stream dropped (a proxy's idle limit, a server restart):
                # wait on the operation, a few times; a server gone stays gone.
                drops += 1
                if _code(e) != "UNAVAILABLE" or not name or drops > len(_REDIAL_S):
                    raise ReapiError(f"REAPI server {self.where}: Execute: {_code(e)} "
                                     f"{e.details() if isinstance(e, grpc.Call) else ''}", _code(e)) from None
                time.sleep(min(_REDIAL_S[drops - 1], max(0.0, end - time.monotonic())))

    def close(self) -> None:
        self.channel.close()


def _response(op: operations_pb2.Operation, where: str) -> re_pb2.ExecuteResponse:
    if op.HasField("error"):
        raise ReapiError(f"REAPI server {where}: Execute failed: {op.error.message}", str(op.error.code))
    resp = re_pb2.ExecuteResponse()
    if not op.response.Unpack(resp):
        raise ReapiError(f"REAPI server {where}: Execute answered something that is not an ExecuteResponse")
    return resp
