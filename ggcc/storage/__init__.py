"""Storage: the local store, and shared stores behind it, all asked through one
interface (store.py); one module per scheme.

    GGCC_STORAGE (or gg's GG_STORAGE_URI)
      file:///path              the local store alone (the default)
      s3://bucket/prefix?region=R
      redis://host:port/db, rediss://... (TLS); credentials in
                                GGCC_REDIS_USERNAME, GGCC_REDIS_PASSWORD, never in the URI
      grpc://host:port, grpcs://...  an REAPI cache (CAS and ActionCache); its
                                instance and headers in GGCC_REAPI_INSTANCE, GGCC_REAPI_HEADERS

``open_store`` gives the launcher and the CLI their store: the local store,
or the local store with a shared tier behind it (tiered.py). The backend
modules import boto3, redis or grpc only when that scheme is used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

from ggcc.base.reapi_uri import ACCESS_SETTINGS
from ggcc.storage.local_store import LocalStore
from ggcc.storage.store import Store


# The settings besides the URI that make one shared store differ from another.
STORE_SETTINGS = ("GGCC_REDIS_USERNAME", "GGCC_REDIS_PASSWORD", *ACCESS_SETTINGS)


def storage_uri(env: Mapping[str, str] | None = None) -> str:
    e = os.environ if env is None else env
    return e.get("GGCC_STORAGE") or e.get("GG_STORAGE_URI") or ""


def open_store(root: str, uri: str | None = None, env: Mapping[str, str] | None = None) -> Store:
    """The store for GGCC_DIR ``root`` and a storage URI (default: the
    environment's); ``env`` (default the process's) for the shared store's
    credentials. GgccError if the URI is not one ggcc can use."""
    uri = storage_uri(env) if uri is None else uri
    if not uri:
        return LocalStore(root)
    from ggcc.base.storage_uri import parse
    from ggcc.storage.uri import open_backend

    spec = parse(uri)
    if spec.scheme == "file":
        return LocalStore(spec.path)
    from ggcc.storage.tiered import TieredStore

    return TieredStore(LocalStore(root), open_backend(uri, env))
