"""A storage URI parsed without touching the network: its scheme and parts.

Credentials never go in a URI (it is printed, logged, sent in Lambda
payloads and kept in shell histories): S3's come from boto3's chain
(AWS_PROFILE, the AWS_* variables, roles), Redis's from GGCC_REDIS_USERNAME
and GGCC_REDIS_PASSWORD, an REAPI cache's headers (a bearer token, an API key)
from GGCC_REAPI_HEADERS. A URI holding any is refused, and no message
repeats the URI's user part. Here, below the stores, because the settings
table checks GGCC_STORAGE with it; storage/uri.py opens what it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ggcc.base.errors import GgccError
from ggcc.base.reapi_uri import parse_target

SCHEMES = ("file", "s3", "redis", "rediss", "grpc", "grpcs")


@dataclass(frozen=True)
class StorageSpec:
    scheme: str
    host: str = ""  # the bucket, for s3
    port: int = 0
    path: str = ""  # the key prefix (s3), the directory (file)
    db: int = 0
    region: str | None = None


def parse(uri: str) -> StorageSpec:
    """The URI's parts; GgccError (a message naming what is wrong and what
    to write instead) if it is not one ggcc can use."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as e:
        why = "the port is not a number from 1 to 65535" if "port" in str(e).lower() else str(e)
        raise GgccError(f"storage URI: {why}; write e.g. redis://host:6379/0 or s3://bucket/prefix") from None
    scheme = parts.scheme
    if scheme not in SCHEMES:
        raise GgccError(f"storage URI scheme {scheme!r} is not supported: use file://, s3://, redis://, rediss://, "
                        "grpc:// or grpcs://")
    if scheme in ("grpc", "grpcs"):  # an REAPI cache: host:port only, the rest in settings
        target = parse_target(uri, "GGCC_STORAGE")
        host, _, port_text = target.address.rpartition(":")
        return StorageSpec(scheme, host=host, port=int(port_text))
    if "@" in parts.netloc:
        where = "AWS_PROFILE or the standard AWS variables" if scheme == "s3" else "GGCC_REDIS_USERNAME and GGCC_REDIS_PASSWORD"
        raise GgccError(f"{scheme}:// storage URI: credentials do not belong in the URI; use {where}")
    if scheme == "file":
        if not parts.path:
            raise GgccError("file:// storage URI needs a directory: file:///path/to/store")
        return StorageSpec("file", path=parts.path)
    if scheme == "s3":
        if not parts.hostname:
            raise GgccError("s3:// storage URI needs a bucket: s3://bucket/prefix?region=REGION")
        region = parse_qs(parts.query).get("region", [None])[0]
        return StorageSpec("s3", host=parts.netloc, path=parts.path.strip("/"), region=region)
    db_text = parts.path.strip("/")
    if db_text and not db_text.isdigit():
        raise GgccError(f"{scheme}:// storage URI: the path must be a database number, e.g. {scheme}://host:6379/0")
    if port == 0:
        raise GgccError(f"{scheme}:// storage URI: the port is not a number from 1 to 65535")
    return StorageSpec(scheme, host=parts.hostname or "127.0.0.1", port=port or 6379, db=int(db_text or 0))
