"""Shared storage behind the local store: one small interface, one module per scheme.

    GGCC_STORAGE (or gg's GG_STORAGE_URI)
      file:///path              the local store alone (the default)
      s3://bucket/prefix?region=R
      redis://[user:password@]host:port/db, rediss://... (TLS)

``open_store`` gives the launcher and the CLI their store: the local store,
or the local store with a shared tier behind it (tiered.py). The backend
modules import boto3 or redis only when that scheme is used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

from ggcc.local_store import LocalStore


def storage_uri(env: Mapping[str, str] | None = None) -> str:
    e = os.environ if env is None else env
    return e.get("GGCC_STORAGE") or e.get("GG_STORAGE_URI") or ""


def open_store(root: str, uri: str | None = None) -> LocalStore:
    """The store for GGCC_DIR ``root`` and a storage URI (default: the environment's)."""
    uri = storage_uri() if uri is None else uri
    if not uri or uri.startswith("file://"):
        local = uri[len("file://"):] if uri.startswith("file://") else ""
        return LocalStore(local or root)
    from ggcc.storage.tiered import TieredStore
    from ggcc.storage.uri import open_backend

    return TieredStore(root, open_backend(uri))
