"""A shared store opened from its URI (parsed by base/storage_uri.py): one
backend module per scheme, imported only when that scheme is used. Each
takes its credentials from settings, never from the URI: Redis's from
GGCC_REDIS_USERNAME/PASSWORD, an REAPI cache's from the same settings as
the REAPI engine's (base/reapi_uri.Access)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ggcc.base.errors import GgccError
from ggcc.base.storage_uri import parse
from ggcc.storage.backend import Backend


def open_backend(uri: str, env: Mapping[str, str] | None = None) -> Backend:
    """The backend for a shared-store URI (not file://); ``env`` (default
    the process's) holds its credentials if any."""
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
    if spec.scheme in ("grpc", "grpcs"):
        from ggcc.base.reapi_uri import Access

        try:
            from ggcc.storage.reapi_backend import ReapiBackend
        except ImportError as err:
            raise GgccError(f"GGCC_STORAGE={spec.scheme}:// needs the REAPI extra ({err.name or 'grpc'} is missing): "
                            "pip install 'ggcc[reapi]'") from None
        return ReapiBackend(uri, Access.from_env(e))
    raise GgccError("GGCC_STORAGE: not a shared store (file:// is the local store)")
