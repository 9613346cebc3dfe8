"""GGCC_REAPI's value (where the farm is, and nothing else) and
GGCC_REAPI_HEADERS' (pure; no grpc import, so the settings check stays cheap)."""

from __future__ import annotations

from dataclasses import dataclass

from ggcc.base.errors import GgccError


@dataclass(frozen=True)
class Target:
    address: str  # host:port
    tls: bool


def parse_target(uri: str, setting: str = "GGCC_REAPI") -> Target:
    """``grpc://host:port`` or ``grpcs://host:port`` (GgccError, naming
    ``setting``, otherwise; the message never repeats what is wrong, which
    may hold a credential)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("grpc", "grpcs"):
        raise GgccError(f"{setting}: write grpc://host:port (or grpcs:// for TLS)")
    if "@" in rest or "/" in rest.rstrip("/") or "?" in rest:
        raise GgccError(f"{setting}: give the server's host:port only; credentials go in GGCC_REAPI_HEADERS, "
                        "the instance in GGCC_REAPI_INSTANCE")
    host, colon, port = rest.rstrip("/").rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise GgccError(f"{setting}: the address has no port from 1 to 65535: write grpc://host:port")
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
