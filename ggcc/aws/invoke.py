"""Invoke, lean: one signed HTTPS POST per call, on a connection per thread.

boto3's client.invoke costs ~3 ms of CPU per call here (its event hooks,
parameter validation, parsing), and the GIL makes that a ceiling of ~300
calls/s whatever the concurrency. This does the same request with
botocore's own pieces where they matter (credentials chain and refresh,
endpoint resolution including AWS_ENDPOINT_URL), its own SigV4 signing
(sigv4.py: botocore's signer alone was 0.3 ms a call) and nothing else.
Throttling and errors come back as status codes for the engine's own
retry rules; nothing is retried here.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ggcc.aws.sigv4 import Signer, host_header

_HEADERS = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}


@dataclass(frozen=True)
class Reply:
    status: int
    function_error: str  # X-Amz-Function-Error: "Unhandled" or ""
    error_code: str  # x-amzn-ErrorType for a refused call (TooManyRequestsException...)
    body: bytes


class Invoker:
    def __init__(self, region: str | None, read_timeout_s: float) -> None:
        import boto3

        session = boto3.session.Session(region_name=region)
        client = session.client("lambda")  # only for the endpoint and region it resolves
        self.endpoint = urlsplit(client.meta.endpoint_url)
        self.region = client.meta.region_name
        self._credentials = session.get_credentials()
        if self._credentials is None:
            raise RuntimeError("no AWS credentials found (AWS_PROFILE, AWS_ACCESS_KEY_ID, or an instance role)")
        self._signer = Signer(self.region, "lambda")
        self._host = host_header(self.endpoint.scheme, self.endpoint.hostname or "", self.endpoint.port)
        self._timeout = read_timeout_s
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            host, port = self.endpoint.hostname or "", self.endpoint.port
            if self.endpoint.scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=self._timeout)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def invoke(self, function: str, payload: bytes) -> Reply:
        """One synchronous invocation; OSError/HTTPException if the connection fails."""
        path = f"{self.endpoint.path.rstrip('/')}/2015-03-31/functions/{quote(function, safe='')}/invocations"
        creds: Any = self._credentials.get_frozen_credentials()  # refreshed by botocore when they expire
        headers = self._signer.headers("POST", self._host, path, payload, _HEADERS,
                                       creds.access_key, creds.secret_key, creds.token)
        conn = self._connection()
        try:
            conn.request("POST", path, body=payload, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            conn.close()  # a half-used connection is never reused
            self._local.conn = None
            raise
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            self._local.conn = None
        return Reply(resp.status, resp.getheader("X-Amz-Function-Error") or "",
                     (resp.getheader("x-amzn-ErrorType") or "").split(":")[0], body)
