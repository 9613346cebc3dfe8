#!/usr/bin/env python3
"""A local stand-in for AWS Lambda (plus S3 and IAM), for tests and people.

    python integration/lambda_harness.py --port 9000     # prints its URL
    AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=testing \\
    AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 ggcc lambda deploy ...

One endpoint on 127.0.0.1. moto's server (pinned: this relies on its
internals) answers S3, IAM and Lambda's control plane. Invoke is answered
here: the function's zip, as moto stored it, is unpacked and run in a
separate process under the official runtime interface client
(awslambdaric), which pulls events from a Runtime API this harness serves
to that process alone. A process is reused while warm, one invocation at
a time, as Lambda reuses a sandbox; concurrent invocations get separate
processes, up to --max-sandboxes, beyond which Invoke answers 429 (as
Lambda does past the concurrency limit). Each process gets Lambda's
environment variables, its own /tmp (TMPDIR), and AWS_ENDPOINT_URL
pointing back here, so the function's unchanged boto3 calls reach moto.

Like Lambda: a handler exception answers 200 with X-Amz-Function-Error
Unhandled; an invocation past the function's Timeout has its process
killed ("Task timed out after N.00 seconds"); a process that dies answers
Runtime.ExitError; LogType=Tail returns the invocation's log tail.

Faults, for tests (POST /_harness/faults, JSON, counted from that moment):
  {"throttle": K}      the next K invocations answer 429
  {"kill": [N, ...]}   the Nth next invocations (1-based) have their process
                       SIGKILLed as the event is handed to it
  {"hang": [N, ...]}   the Nth next invocations have their process stopped
                       (SIGSTOP) before it gets the event, so they run past
                       the timeout
  {"recycle": true}    end the idle sandboxes: the next invocations are cold
GET /_harness/stats gives what happened. A function whose handler is
"harness.echo" is answered here at once with its payload (for dispatch
benchmarks: no process at all).
"""

from __future__ import annotations

import argparse
import base64
import http.server
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

INVOKE_PREFIX = "/2015-03-31/functions/"
ACCOUNT = "123456789012"
INIT_TIMEOUT_S = 30.0  # Lambda allows 10 s of init; a loaded test machine needs more


@dataclass
class Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    arn: str
    handed: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str = ""  # ok, error, exit
    payload: bytes = b""
    error_type: str = ""


class _RuntimeHandler(http.server.BaseHTTPRequestHandler):
    """The Runtime API one sandbox's runtime client talks to."""

    protocol_version = "HTTP/1.1"
    server: _RuntimeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = io.BytesIO()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out.getvalue()
                out.write(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _reply(self, code: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        sb = self.server.sandbox
        if self.path.endswith("/runtime/invocation/next"):
            inv = sb.next_invocation()
            self._reply(200, inv.body, {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            })
            return
        self._reply(404, b'{"errorMessage":"not found"}')

    def do_POST(self) -> None:
        sb = self.server.sandbox
        body = self._body()
        parts = self.path.strip("/").split("/")
        if parts[-2:] == ["init", "error"]:
            sb.init_error(body, self.headers.get("Lambda-Runtime-Function-Error-Type", "Runtime.Unknown"))
            self._reply(202, b'{"status":"OK"}')
            return
        if len(parts) >= 5 and parts[-3] == "invocation" and parts[-1] in ("response", "error"):
            ok = sb.finish(parts[-2], parts[-1], body, self.headers.get("Lambda-Runtime-Function-Error-Type", ""))
            self._reply(202 if ok else 400, b'{"status":"OK"}' if ok else b'{"errorMessage":"unknown request id"}')
            return
        self._reply(404, b'{"errorMessage":"not found"}')


class _RuntimeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Sandbox


class Sandbox:
    """One function process (an execution environment), reused while warm."""

    def __init__(self, harness: Harness, key: tuple[str, str, str], fn: Any, task_root: str, region: str) -> None:
        self.key = key
        self.fn = fn
        self.dir = tempfile.mkdtemp(prefix="sandbox-", dir=harness.dir)
        self.tmp = os.path.join(self.dir, "tmp")
        os.mkdir(self.tmp)
        self.log_path = os.path.join(self.dir, "log")
        self._inbox: queue.Queue[Invocation] = queue.Queue()
        self._current: Invocation | None = None
        self._lock = threading.Lock()
        self.dead = threading.Event()
        self.ready = threading.Event()  # the runtime has asked for its first event
        self.init_failure: tuple[str, bytes] | None = None
        self.server = _RuntimeServer(("127.0.0.1", 0), _RuntimeHandler)
        self.server.sandbox = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": os.path.dirname(os.path.dirname(os.__file__)),
            "PYTHONPATH": task_root,
            "TMPDIR": self.tmp,
            "HOME": self.tmp,
            "_HANDLER": fn.handler,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # The role's temporary credentials, as Lambda sets them.
            "AWS_ACCESS_KEY_ID": "ASIAHARNESSROLE00000",
            "AWS_SECRET_ACCESS_KEY": "harness-role-secret",
            "AWS_SESSION_TOKEN": "harness-role-session",
            "AWS_ENDPOINT_URL": harness.url,
        }
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", fn.handler],
            cwd=task_root, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        self.proc.wait()
        self.dead.set()
        with self._lock:
            inv = self._current
        if inv is not None and not inv.done.is_set():
            inv.outcome, inv.error_type = "exit", "Runtime.ExitError"
            sig = -self.proc.returncode if self.proc.returncode < 0 else 0
            why = f"signal: {signal.Signals(sig).name.lower().removeprefix('sig')}" if sig else f"exit status {self.proc.returncode}"
            inv.payload = json.dumps({"errorType": "Runtime.ExitError",
                                      "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited with error: {why}"}).encode()
            inv.done.set()

    # -- called from the Runtime API ------------------------------------------
    def next_invocation(self) -> Invocation:
        self.ready.set()
        inv = self._inbox.get()
        with self._lock:
            self._current = inv
        inv.handed.set()
        return inv

    def finish(self, request_id: str, how: str, body: bytes, error_type: str) -> bool:
        with self._lock:
            inv = self._current
            if inv is None or inv.request_id != request_id:
                return False
            self._current = None
        inv.payload = body
        inv.outcome = "ok" if how == "response" else "error"
        inv.error_type = error_type
        inv.done.set()
        return True

    def init_error(self, body: bytes, error_type: str) -> None:
        self.init_failure = (error_type, body)
        with self._lock:
            inv = self._current
        if inv is not None:
            inv.outcome, inv.payload, inv.error_type = "error", body, error_type
            inv.done.set()

    # -- called by the harness ----------------------------------------------------
    def give(self, inv: Invocation) -> None:
        self._inbox.put(inv)

    def log_offset(self) -> int:
        self.log.flush()
        return os.path.getsize(self.log_path)

    def log_since(self, offset: int) -> bytes:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read()[-4096:]

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        self.kill()
        self.proc.wait()
        self.server.shutdown()
        self.server.server_close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Harness:
    def __init__(self, dir_: str, url: str, max_sandboxes: int) -> None:
        self.dir = dir_
        self.url = url
        self.max_sandboxes = max_sandboxes
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, str], list[Sandbox]] = {}
        self._live: set[Sandbox] = set()
        self._code_dirs: dict[str, str] = {}
        self._faults: dict[str, Any] = {"throttle": 0, "kill": set(), "hang": set()}
        self.stats: dict[str, int] = {"invocations": 0, "throttled": 0, "cold_starts": 0, "timed_out": 0,
                                      "killed": 0, "exited": 0, "errors": 0, "max_concurrent": 0, "concurrent": 0}

    # -- faults and stats ---------------------------------------------------------
    def set_faults(self, spec: dict[str, Any]) -> None:
        if spec.get("recycle"):
            self.recycle()
        with self._lock:
            base = self.stats["invocations"]
            self._faults = {
                "throttle": int(spec.get("throttle", 0)),
                "kill": {base + int(n) for n in spec.get("kill", [])},
                "hang": {base + int(n) for n in spec.get("hang", [])},
            }

    # -- invoke -------------------------------------------------------------------------
    def invoke(self, name: str, region: str, body: bytes, log_type: str, invocation_type: str) -> tuple[int, dict[str, str], bytes]:
        fn = _find_function(name, region)
        request_id = str(uuid.uuid4())
        base = {"x-amzn-RequestId": request_id, "Content-Type": "application/json"}
        if fn is None:
            msg = f"Function not found: arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
            return 404, {**base, "x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps({"Type": "User", "message": msg}).encode()
        if invocation_type == "DryRun":
            return 204, base, b""
        with self._lock:
            if self._faults["throttle"] > 0:
                self._faults["throttle"] -= 1
                self.stats["throttled"] += 1
                return 429, {**base, "x-amzn-ErrorType": "TooManyRequestsException"}, json.dumps(
                    {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}).encode()
            self.stats["invocations"] += 1
            n = self.stats["invocations"]
        if fn.handler == "harness.echo":
            return 200, {**base, "X-Amz-Executed-Version": "$LATEST"}, body
        if invocation_type == "Event":
            threading.Thread(target=self._run, args=(fn, region, body, request_id, n), daemon=True).start()
            return 202, base, b""
        return self._run(fn, region, body, request_id, n, log_type == "Tail")

    def _run(self, fn: Any, region: str, body: bytes, request_id: str, n: int, tail: bool = False) -> tuple[int, dict[str, str], bytes]:
        base = {"x-amzn-RequestId": request_id, "Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        sb = self._acquire(fn, region)
        if sb is None:
            with self._lock:
                self.stats["throttled"] += 1
            return 429, {**base, "x-amzn-ErrorType": "TooManyRequestsException"}, json.dumps(
                {"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}).encode()
        with self._lock:
            self.stats["concurrent"] += 1
            self.stats["max_concurrent"] = max(self.stats["max_concurrent"], self.stats["concurrent"])
            kill, hang = n in self._faults["kill"], n in self._faults["hang"]
        offset = sb.log_offset()
        inv = Invocation(request_id, body, int((time.time() + fn.timeout) * 1000), fn.function_arn)
        healthy = False
        try:
            if hang:  # initialised, then stopped before it can read the event: it runs past the timeout
                sb.ready.wait(INIT_TIMEOUT_S)
                os.killpg(sb.proc.pid, signal.SIGSTOP)
            sb.give(inv)
            # As Lambda: an init that fails (the handler does not import)
            # answers the invocation with its error at once; one that never
            # asks for an event times out.
            until = time.monotonic() + INIT_TIMEOUT_S
            while not inv.handed.wait(0.05) and time.monotonic() < until and not inv.done.is_set():
                if sb.init_failure is not None:
                    inv.error_type, inv.payload = sb.init_failure
                    inv.outcome = "error"
                    inv.done.set()
                    break
            if not inv.handed.is_set() and not inv.done.is_set():
                inv.outcome, inv.error_type = "error", "Runtime.InitTimeout"
                inv.payload = json.dumps({"errorType": "Runtime.InitTimeout", "errorMessage": "the runtime did not start"}).encode()
                inv.done.set()  # before the kill, so the exit is not reported instead
                sb.kill()
            else:
                if kill:  # the moment the event is handed over
                    sb.kill()
                if not inv.done.wait(fn.timeout):
                    inv.outcome, inv.error_type = "error", "Sandbox.Timedout"
                    inv.payload = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage":
                                              f"RequestId: {request_id} Error: Task timed out after {float(fn.timeout):.2f} seconds"}).encode()
                    inv.done.set()
                    sb.kill()
                    with self._lock:
                        self.stats["timed_out"] += 1
            healthy = inv.outcome in ("ok", "error") and inv.error_type != "Sandbox.Timedout" and not sb.dead.is_set() \
                and sb.init_failure is None
        finally:
            with self._lock:
                self.stats["concurrent"] -= 1
                if kill:
                    self.stats["killed"] += 1
                if inv.outcome == "exit":
                    self.stats["exited"] += 1
                if inv.outcome != "ok":
                    self.stats["errors"] += 1
            self._release(sb, healthy)
        headers = dict(base)
        if tail:
            headers["X-Amz-Log-Result"] = base64.b64encode(sb.log_since(offset)).decode()
        if inv.outcome != "ok":
            headers["X-Amz-Function-Error"] = "Unhandled"
        return 200, headers, inv.payload

    def _acquire(self, fn: Any, region: str) -> Sandbox | None:
        key = (fn.function_arn, fn.code_sha_256, str(fn.last_modified))
        stale: list[Sandbox] = []
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
            if len(self._live) >= self.max_sandboxes:
                # Make room: idle sandboxes of other functions or older code go first.
                for k, sbs in self._idle.items():
                    while sbs and len(self._live) - len(stale) >= self.max_sandboxes:
                        stale.append(sbs.pop())
                if len(self._live) - len(stale) >= self.max_sandboxes:
                    return None
            for s in stale:
                self._live.discard(s)
            self.stats["cold_starts"] += 1
        for s in stale:
            s.close()
        task_root = self._task_root(fn)
        sb = Sandbox(self, key, fn, task_root, region)
        with self._lock:
            self._live.add(sb)
        return sb

    def _release(self, sb: Sandbox, healthy: bool) -> None:
        with self._lock:
            if healthy:
                self._idle.setdefault(sb.key, []).append(sb)
                return
            self._live.discard(sb)
        sb.close()

    def _task_root(self, fn: Any) -> str:
        with self._lock:
            d = self._code_dirs.get(fn.code_sha_256)
            if d is not None:
                return d
            d = os.path.join(self.dir, "code", fn.code_sha_256.replace("/", "_").replace("+", "-"))
            if not os.path.isdir(d):
                tmp = d + ".new"
                shutil.rmtree(tmp, ignore_errors=True)
                with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as z:
                    z.extractall(tmp)
                os.rename(tmp, d)
            self._code_dirs[fn.code_sha_256] = d
            return d

    def recycle(self) -> None:
        """End every idle sandbox: the next invocations start cold, with an empty /tmp."""
        with self._lock:
            idle = [sb for sbs in self._idle.values() for sb in sbs]
            self._idle.clear()
            self._live.difference_update(idle)
        for sb in idle:
            sb.close()

    def close(self) -> None:
        with self._lock:
            live = list(self._live)
            self._live.clear()
            self._idle.clear()
        for sb in live:
            sb.close()


def _find_function(name: str, region: str) -> Any:
    from moto.awslambda.models import lambda_backends

    if name.startswith("arn:"):
        name = name.split(":")[6]
    try:
        return lambda_backends[ACCOUNT][region].get_function(name)
    except Exception:
        return None


def _region(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 3:
            return scope[2]
    return "us-east-1"


def make_app(harness: Harness) -> Any:
    from moto.server import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_harness/"):
            if path == "/_harness/faults" and method == "POST":
                n = int(environ.get("CONTENT_LENGTH") or 0)
                harness.set_faults(json.loads(environ["wsgi.input"].read(n) or b"{}"))
                start_response("200 OK", [("Content-Type", "application/json")])
                return [b'{"ok":true}']
            if path == "/_harness/stats":
                start_response("200 OK", [("Content-Type", "application/json")])
                with harness._lock:
                    return [json.dumps(harness.stats).encode()]
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"message":"unknown harness path"}']
        if method == "POST" and path.startswith(INVOKE_PREFIX) and path.endswith("/invocations"):
            name = path[len(INVOKE_PREFIX):-len("/invocations")]
            n = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(n) if n else b""
            status, headers, out = harness.invoke(
                name, _region(environ), body,
                environ.get("HTTP_X_AMZ_LOG_TYPE", "None"), environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse"))
            reason = {200: "OK", 202: "Accepted", 204: "No Content", 404: "Not Found", 429: "Too Many Requests"}.get(status, "")
            start_response(f"{status} {reason}", list(headers.items()) + [("Content-Length", str(len(out)))])
            return [out]
        result: list[bytes] = moto_app(environ, start_response)
        return result

    return app


def serve(port: int, max_sandboxes: int) -> None:
    from werkzeug.serving import make_server

    work = tempfile.mkdtemp(prefix="lambda-harness-")
    sock_port = port or _free_port()
    url = f"http://127.0.0.1:{sock_port}"
    harness = Harness(work, url, max_sandboxes)
    server = make_server("127.0.0.1", sock_port, make_app(harness), threaded=True)
    server.socket.listen(4096)  # werkzeug's 128 resets connections when 1,000 calls arrive at once
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    print(url, flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        harness.close()
        shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description="A local Lambda (+S3, IAM) endpoint for ggcc's tests.")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--max-sandboxes", type=int, default=8,
                   help="function processes at once; more concurrent invocations answer 429 (default: 8)")
    a = p.parse_args()
    serve(a.port, a.max_sandboxes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
