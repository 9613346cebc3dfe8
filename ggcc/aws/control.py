"""The Lambda service as the engine sees it (engines/aws_lambda.py): the
client that reads the function's configuration, what its errors and
answers mean, and what a run costs. Invocations go through invoke.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Function errors that say the function cannot run, whatever the thunk:
# retrying them would cost every thunk the whole init wait.
BROKEN_ERRORS = ("Runtime.Init", "Runtime.ImportModuleError", "Runtime.HandlerNotFound", "Runtime.UserCodeSyntaxError",
                 "Runtime.MalformedHandlerName", "Runtime.InvalidEntrypoint", "Runtime.MissingHandler")
# Invoke answers that say the same of the function or the caller.
BROKEN_CODES = ("AccessDeniedException", "ResourceNotFoundException", "KMSAccessDeniedException",
                "KMSDisabledException", "InvalidRuntimeException", "ENILimitReachedException",
                "SubnetIPAddressLimitReachedException", "EFSMountFailureException", "InvalidZipFileException")
ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
# USD per GB-second (us-east-1, 2026); the estimate in `ggcc stats`.
PRICE_GBS = {"x86_64": 0.0000166667, "arm64": 0.0000133334}


def function_error(body: bytes) -> tuple[str, str]:
    """Classify a function error from its payload (errorType, errorMessage)."""
    import json

    try:
        obj = json.loads(body)
        etype, message = str(obj.get("errorType", "")), str(obj.get("errorMessage", ""))
    except (ValueError, AttributeError):
        etype, message = "", body[:200].decode("utf-8", "replace")
    if etype.startswith(BROKEN_ERRORS):
        return "broken", f"{etype}: {message}" if message else etype
    text = f"{etype} {message}".lower()
    if "timed out" in text or "timedout" in text:
        return "timeout", message
    if "out of memory" in text or "outofmemory" in text or "memoryerror" in text:
        return "out-of-memory", message
    if "exiterror" in text or "exited" in text:
        return "crashed", message
    return "error", f"{etype}: {message}" if etype else message


def aws_message(e: BaseException) -> str:
    resp = getattr(e, "response", None)
    if isinstance(resp, dict):
        err = resp.get("Error", {})
        return f"{err.get('Code', type(e).__name__)}: {err.get('Message', '')}".rstrip(": ")
    return f"{type(e).__name__}: {e}"


def control_client(region: str | None = None) -> Callable[[], Any]:
    """A maker of the boto3 Lambda client the engine reads the function's
    configuration with (Invoke goes through ggcc/aws/invoke.py). Endpoint,
    region and credentials come from boto3's own chain (AWS_ENDPOINT_URL,
    AWS_PROFILE, roles)."""

    def make() -> Any:
        import boto3
        from botocore.config import Config

        cfg = Config(region_name=region, connect_timeout=5, read_timeout=30, retries={"max_attempts": 2})
        return boto3.session.Session().client("lambda", config=cfg)

    return make
