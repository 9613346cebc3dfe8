"""Real servers for storage tests, on 127.0.0.1 random ports: redis-server
(Debian package) and moto's S3 server (pinned in the test extra)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:g} s")


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, "redis-server")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def redis_server(workdir: Path) -> Iterator[Redis]:
    r = Redis(workdir)
    r.start()
    try:
        yield r
    finally:
        r.kill()


@contextmanager
def s3_server(bucket: str = "ggcc-test") -> Iterator[dict[str, str]]:
    """moto's server; yields the environment that points boto3 at it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "moto server")
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        import boto3

        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=bucket)
        yield env
    finally:
        proc.kill()
        proc.wait()


HARNESS = Path(__file__).resolve().parent.parent / "integration" / "lambda_harness.py"


@contextmanager
def lambda_harness(max_sandboxes: int = 4, bucket: str = "ggcc-test") -> Iterator[dict[str, str]]:
    """integration/lambda_harness.py (moto for S3, IAM and Lambda's control
    plane; Invoke run under awslambdaric); yields the environment that
    points boto3 at it, with ``bucket`` created."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS), "--port", str(port), "--max-sandboxes", str(max_sandboxes)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "lambda harness")
        url = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        import boto3

        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=bucket)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


__all__ = ["Redis", "free_port", "lambda_harness", "os", "redis_server", "s3_server"]
