"""Parsing a storage URI into a backend, credentials never echoed."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from ggcc.errors import GgccError
from ggcc.storage.backend import Backend


def open_backend(uri: str) -> Backend:
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        if parts.username or parts.password:
            raise GgccError("s3:// storage URI: credentials do not belong in the URI; use AWS_PROFILE or the standard AWS variables")
        if not parts.hostname:
            raise GgccError("s3:// storage URI needs a bucket: s3://bucket/prefix?region=REGION")
        region = parse_qs(parts.query).get("region", [None])[0]
        from ggcc.storage.s3 import S3Backend

        return S3Backend(parts.netloc, parts.path.strip("/"), region)
    if parts.scheme in ("redis", "rediss"):
        from ggcc.storage.redis_backend import RedisBackend

        db = int(parts.path.strip("/") or 0) if parts.path.strip("/").isdigit() or not parts.path.strip("/") else -1
        if db < 0:
            raise GgccError(f"{parts.scheme}:// storage URI: the path must be a database number, e.g. {parts.scheme}://host:6379/0")
        return RedisBackend(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )
    raise GgccError(f"storage URI scheme {parts.scheme!r} is not supported: use file://, s3:// or redis://")
