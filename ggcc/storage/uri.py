"""A shared store opened from its URI (parsed by base/storage_uri.py): one
backend module per scheme, imported only when that scheme is used."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ggcc.base.errors import GgccError
from ggcc.base.storage_uri import parse
from ggcc.storage.backend import Backend


def open_backend(uri: str, env: Mapping[str, str] | None = None) -> Backend:
    """The backend for a shared-store URI (not file://); ``env`` (default
    the process's) holds the Redis credentials if any."""
    spec = parse(uri)
    e = os.environ if env is None else env
    if spec.scheme == "s3":
        from ggcc.storage.s3 import S3Backend

        return S3Backend(spec.host, spec.path, spec.region)
    if spec.scheme in ("redis", "rediss"):
        from ggcc.storage.redis_backend import RedisBackend

        return RedisBackend(
            host=spec.host,
            port=spec.port,
            db=spec.db,
            username=e.get("GGCC_REDIS_USERNAME") or None,
            password=e.get("GGCC_REDIS_PASSWORD") or None,
            tls=spec.scheme == "rediss",
        )
    raise GgccError(f"{uri}: not a shared store (file:// is the local store)")
