"""Lambda dispatch rate: how many invocations per second this machine sustains.

    python integration/bench/lambda_dispatch.py [--invocations 5000] [--in-flight 1000] [--runs 3]

Starts the local harness (integration/lambda_harness.py), deploys a
function whose handler is "harness.echo" (answered by the harness at once,
no process), and invokes it --invocations times with --in-flight calls
outstanding, through the Lambda engine's own invoker (ggcc/aws/invoke.py:
a SigV4-signed POST on a connection per thread), one thread per call in
flight as the engine does.
Each payload is a real ggcc request for one thunk (a few hundred bytes).

The rate measured is the client's and the harness's together, both on this
machine's cores; against AWS only the client's side would be here.
Prints each run and the median; JSON last.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from ggcc.aws import protocol  # noqa: E402
from ggcc.aws.invoke import Invoker  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--invocations", type=int, default=5000)
    p.add_argument("--in-flight", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()

    port = _free_port()
    harness = subprocess.Popen([sys.executable, str(ROOT / "integration" / "lambda_harness.py"), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert harness.stdout is not None
        harness.stdout.readline()  # its URL, once it listens
        os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
                          AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        import boto3

        iam = boto3.client("iam")
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("harness.py", "def echo(event, context):\n    return event\n")
        boto3.client("lambda").create_function(FunctionName="echo", Runtime="python3.12", Role=role,
                                               Handler="harness.echo", Code={"ZipFile": buf.getvalue()})
        invoker = Invoker(None, 60)
        tid = "T" + "ab" * 32 + "00000400"
        payload = protocol.encode_request("s3://bucket/prefix", [protocol.Job(tid, {})])
        errors = 0
        lock = threading.Lock()

        def call(_: int) -> None:
            nonlocal errors
            r = invoker.invoke("echo", payload)
            if r.status != 200 or r.function_error or r.body != payload:
                with lock:
                    errors += 1

        rates = []
        with ThreadPoolExecutor(a.in_flight) as pool:
            list(pool.map(call, range(min(a.in_flight, a.invocations))))  # connections and threads up
            for run in range(a.runs):
                t0 = time.perf_counter()
                list(pool.map(call, range(a.invocations)))
                dt = time.perf_counter() - t0
                rates.append(a.invocations / dt)
                print(f"run {run + 1}: {a.invocations} invocations, {a.in_flight} in flight: {dt:.2f} s, "
                      f"{rates[-1]:.0f}/s", flush=True)
        med = statistics.median(rates)
        print(f"median: {med:.0f} invocations/s (goal >= 500/s); {errors} errors; {os.cpu_count()} cores")
        print(json.dumps({"invocations_per_s": round(med, 1), "in_flight": a.in_flight, "errors": errors}))
        return 0 if errors == 0 else 1
    finally:
        harness.terminate()
        harness.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
