"""GGCC_REAPI's value (where the farm is, and nothing else) and
GGCC_REAPI_HEADERS' (pure; no grpc import, so the settings check stays cheap)."""

from __future__ import annotations

from dataclasses import dataclass

from ggcc.base.errors import GgccError


@dataclass(frozen=True)
class Target:
    address: str  # host:port
    tls: bool


def parse_target(uri: str) -> Target:
    """``grpc://host:port`` or ``grpcs://host:port`` (GgccError otherwise)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("grpc", "grpcs"):
        raise GgccError("GGCC_REAPI: write grpc://host:port (or grpcs:// for TLS)")
    if "@" in rest or "/" in rest.rstrip("/") or "?" in rest:
        raise GgccError("GGCC_REAPI: give the server's host:port only; credentials go in GGCC_REAPI_HEADERS, "
                        "the instance in GGCC_REAPI_INSTANCE")
    host, colon, port = rest.rstrip("/").rpartition(":")
    if not colon or not host or not port.isdigit():
        raise GgccError(f"GGCC_REAPI: {rest!r} has no port: write grpc://host:port")
    return Target(f"{host}:{port}", scheme == "grpcs")


def parse_headers(text: str) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """GGCC_REAPI_HEADERS: ``name=value`` pairs separated by ';' (a value
    may hold '='), names lowercased as gRPC wants; and the parts that are
    not pairs (the settings' check refuses them before a build)."""
    pairs, bad = [], []
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            pairs.append((name.strip().lower(), value.strip()))
        elif part.strip():
            bad.append(part)
    return tuple(pairs), bad
