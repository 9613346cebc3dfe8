"""The one interface every part asks of storage (ccache's primary plus
secondaries; sccache's multilevel cache).

``local`` is the disk primary (local_store.py): blobs are written, linked,
copied and trimmed there, whatever is behind it. What differs when a shared
store stands behind it (tiered.py) is here: results read through and
written back, blobs brought or pushed, small records, and whether a result
came from the shared store. A local store alone is a Store too: its
``local`` is itself and ``shared`` is None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ggcc.formats.result import Result
    from ggcc.storage.backend import Backend
    from ggcc.storage.local_store import LocalStore


class Store(Protocol):
    @property
    def root(self) -> str:
        """GGCC_DIR: the local store's directory."""
        ...

    @property
    def local(self) -> LocalStore:
        """The disk primary."""
        ...

    @property
    def shared(self) -> Backend | None:
        """The shared store behind it, if any."""
        ...

    def get_result(self, thunk_id: str) -> Result | None:
        """A successful result with every output present here (brought
        from the shared store, checked, if only it has them)."""
        ...

    def put_result(self, result: Result) -> None:
        """Keep a successful result here, and give it and its outputs to
        the shared store (never failing for the shared store's sake)."""
        ...

    def adopt_result(self, result: Result) -> bool:
        """Keep here a result the shared store holds already (made by a
        worker or a Lambda function); False if an output cannot be had."""
        ...

    def fetch_blob(self, id_: str) -> bool:
        """Whether the blob is here, brought and checked if need be."""
        ...

    def fetch_all(self, blob_ids: list[str], pool: Executor | None = None) -> list[str]:
        """The blobs of ``blob_ids`` that no store holds."""
        ...

    def push_blobs(self, blob_ids: list[str]) -> None:
        """Give blobs to the shared store (StorageError if it fails)."""
        ...

    def get_small(self, key: str) -> bytes | None:
        """A small record of the shared store (a manifest, a travel record)."""
        ...

    def put_small(self, key: str, data: bytes) -> None: ...

    def came_from_shared(self, thunk_id: str) -> None:
        """Count a result made from what the shared store held."""
        ...

    def took_from_shared(self, thunk_id: str) -> bool:
        """Whether the result was just brought from the shared store (told once)."""
        ...
