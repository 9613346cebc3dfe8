"""GGCC_REAPI's value (where the farm is, and nothing else), and how to reach
it besides (Access: instance, headers, TLS files, credential helper), which
the REAPI engine and the grpc:// store both read from the same settings.
Pure; no grpc import, so the settings check stays cheap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
# Said by the settings' check, and by the connection (grpc aborts the process on a certificate without its key).
CERT_WITHOUT_KEY = "GGCC_REAPI_TLS_CERT and GGCC_REAPI_TLS_KEY go together (mutual TLS): set both or neither"
# Every setting Access reads: two values of these are two different ways in.
ACCESS_SETTINGS = ("GGCC_REAPI_INSTANCE", "GGCC_REAPI_HEADERS", *TLS_SETTINGS, "GGCC_REAPI_CREDENTIAL_HELPER")


@dataclass(frozen=True)
class Access:
    """How to reach an REAPI server besides its address."""

    instance: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # credentials: never printed
    tls: TlsFiles = TlsFiles()
    credential_helper: str = ""

    @staticmethod
    def from_env(env: Mapping[str, str]) -> Access:
        return Access(
            instance=env.get("GGCC_REAPI_INSTANCE") or "",
            headers=parse_headers(env.get("GGCC_REAPI_HEADERS") or "")[0],
            tls=TlsFiles(*(env.get(name) or "" for name in TLS_SETTINGS)),
            credential_helper=env.get("GGCC_REAPI_CREDENTIAL_HELPER") or "",
        )
