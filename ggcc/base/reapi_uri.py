"""GGCC_REAPI's value (where the farm is, and nothing else), GGCC_REAPI_HEADERS'
and the TLS files (pure; no grpc import, so the settings check stays cheap)."""

from __future__ import annotations

from collections.abc import Mapping
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


def parse_headers(text: str, lower: bool = True) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """GGCC_REAPI_HEADERS (and GGCC_REAPI_PLATFORM, with ``lower`` False):
    ``name=value`` pairs separated by ';' (a value may hold '='), header
    names lowercased as gRPC wants; and the parts that are not pairs (the
    settings' check refuses them before a build)."""
    pairs, bad = [], []
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            pairs.append((name.strip().lower() if lower else name.strip(), value.strip()))
        elif part.strip():
            bad.append(part)
    return tuple(pairs), bad


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for grpcs://: the authorities to trust ("" for the
    system's), and this client's certificate and key for mutual TLS."""

    ca: str = ""
    cert: str = ""
    key: str = ""


TLS_SETTINGS = ("GGCC_REAPI_TLS_CA", "GGCC_REAPI_TLS_CERT", "GGCC_REAPI_TLS_KEY")


def tls_files(env: Mapping[str, str]) -> TlsFiles:
    return TlsFiles(*(env.get(name, "") for name in TLS_SETTINGS))
