"""What a shared store must do: a few batched, streamed operations on keys.

Keys look like ``blobs/<id without type letter>``, ``results/<...>``,
``manifests/<...>``. Blobs are streamed from and to files (a compiler's cc1
is ~30 MB; nothing is held in memory twice); results and manifests are
small. Backends raise StorageError for anything that went wrong with the
service; the tier retries and then carries on without it. A write refused
for want of permission is ReadOnly: the tier stops writing, not reading.
"""

from __future__ import annotations

from typing import Protocol


class StorageError(Exception):
    """The shared store could not be reached or refused the request."""


class ReadOnly(StorageError):
    """The shared store takes no writes from these credentials (a read-only
    token or user, as teams give developers while CI writes): reads go on."""


class Backend(Protocol):
    name: str

    def missing(self, keys: list[str]) -> list[str]:
        """The keys not present, checked in one batch."""
        ...

    def put_file(self, key: str, path: str) -> None: ...

    def put_files(self, items: list[tuple[str, str]]) -> None:
        """Upload many (key, path) pairs, as fast as the service allows."""
        ...

    def get_file(self, key: str, dest: str) -> bool:
        """Stream the object to dest; False if it does not exist."""
        ...

    def put_small(self, key: str, data: bytes) -> None: ...

    def get_small(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None:
        """Remove the object if present (a blob found corrupt on download)."""
        ...

    def describe(self) -> str:
        """For messages: the location without any credentials."""
        ...
