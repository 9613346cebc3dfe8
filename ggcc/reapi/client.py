"""Remote execution on an REAPI server: Execute, and WaitExecution when the
stream drops, over the CAS and ActionCache connection of
storage/reapi_cas.py (which the storage tier uses alone)."""

from __future__ import annotations

import time

import grpc

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid.common.protos.google.longrunning import operations_pb2
from ggcc.base.reapi_uri import Access
from ggcc.storage.reapi_cas import CasConnection, ReapiError, code_of, digest

__all__ = ["Connection", "ReapiError"]

_REDIAL_S = (0.2, 0.5, 1.0, 2.0)  # waits before WaitExecution after a dropped stream


class Connection(CasConnection):
    """A CAS and ActionCache connection that also runs Actions."""

    def __init__(self, uri: str, access: Access = Access(), timeout_s: float = 60.0) -> None:
        super().__init__(uri, access, timeout_s)
        self.execution = re_grpc.ExecutionStub(self.channel)

    def execute(self, action_id: str, deadline_s: float, cache_lookup: bool = False) -> re_pb2.ExecuteResponse:
        """Run the Action within ``deadline_s`` in all (``cache_lookup``: the
        server answers from its ActionCache if it can); a dropped stream is
        picked up with WaitExecution."""
        req = re_pb2.ExecuteRequest(instance_name=self.instance, action_digest=digest(action_id),
                                    skip_cache_lookup=not cache_lookup)
        end = time.monotonic() + deadline_s
        name = ""
        drops = 0
        renewed = False
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
                if not renewed and self.refused_credentials(code_of(e)):
                    renewed = True  # an expired token: once more with the helper's fresh one
                    continue
                # The stream dropped (a proxy's idle limit, a server restart):
                # wait on the operation, a few times; a server gone stays gone.
                drops += 1
                if code_of(e) != "UNAVAILABLE" or not name or drops > len(_REDIAL_S):
                    raise ReapiError(f"REAPI server {self.where}: Execute: {code_of(e)} "
                                     f"{e.details() if isinstance(e, grpc.Call) else ''}", code_of(e)) from None
                time.sleep(min(_REDIAL_S[drops - 1], max(0.0, end - time.monotonic())))


def _response(op: operations_pb2.Operation, where: str) -> re_pb2.ExecuteResponse:
    if op.HasField("error"):
        raise ReapiError(f"REAPI server {where}: Execute failed: {op.error.message}", str(op.error.code))
    resp = re_pb2.ExecuteResponse()
    if not op.response.Unpack(resp):
        raise ReapiError(f"REAPI server {where}: Execute answered something that is not an ExecuteResponse")
    return resp
