"""The shared tier's rules (storage/tiered.py) with a backend in memory
that fails when told to: retries, the breaker, the fallback to the local
store, and nothing from the shared store used before its hash is checked.
(The real S3 and Redis backends are in test_shared_storage.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ggcc.commands import stats_report
from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.storage import tiered
from ggcc.storage.backend import StorageError
from ggcc.storage.local_store import LocalStore
from ggcc.storage.tiered import TieredStore


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.down = False
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise StorageError("connection refused")

    def missing(self, keys: list[str]) -> list[str]:
        self._call()
        return [k for k in keys if k not in self.objects]

    def put_file(self, key: str, path: str) -> None:
        self._call()
        self.objects[key] = Path(path).read_bytes()

    def put_files(self, items: list[tuple[str, str]]) -> None:
        for k, p in items:
            self.put_file(k, p)

    def get_file(self, key: str, dest: str) -> bool:
        self._call()
        if key not in self.objects:
            return False
        Path(dest).write_bytes(self.objects[key])
        return True

    def put_small(self, key: str, data: bytes) -> None:
        self._call()
        self.objects[key] = data

    def get_small(self, key: str) -> bytes | None:
        self._call()
        return self.objects.get(key)

    def delete(self, key: str) -> None:
        self._call()
        self.objects.pop(key, None)

    def describe(self) -> str:
        return "memory"


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiered, "_FIRST_DELAY_S", 0.0)


def _result(store: LocalStore, data: bytes) -> Result:
    vid = store.put_bytes(data)
    tid = store.put_bytes(b"a thunk " + data, ids.THUNK)
    return Result(tid, 0, (OutputValue("o", vid),), b"out", b"")


def test_a_result_written_back_is_found_by_another_machine(tmp_path: Path) -> None:
    backend = MemoryBackend()
    one = TieredStore(LocalStore(str(tmp_path / "one")), backend)
    r = _result(one.local, b"object code")
    one.put_result(r)
    two = TieredStore(LocalStore(str(tmp_path / "two")), backend)
    got = two.get_result(r.thunk_id)
    assert got is not None and got.outputs == r.outputs and two.took_from_shared(r.thunk_id)
    assert two.local.read_bytes(r.outputs[0].ref) == b"object code"
    assert not two.took_from_shared(r.thunk_id)  # told once


def test_a_failing_shared_store_is_tried_three_times_then_left_alone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MemoryBackend()
    store = TieredStore(LocalStore(str(tmp_path)), backend)
    r = _result(store.local, b"x")
    backend.down = True
    store.put_result(r)  # never fails for the shared store's sake
    assert backend.calls == 3 and store.local.get_result(r.thunk_id) == r
    assert store.get_result(r.thunk_id) == r  # the local store answers
    assert store.get_result("T" + "0" * 64) is None and backend.calls == 3  # the tier is off: not asked
    s = stats_report.summary(str(tmp_path))
    assert s.storage_fallbacks == 1 and "storage: connection refused" in s.error_kinds
    monkeypatch.setattr(store, "_down_until", time.monotonic() - 1)  # RETRY_AFTER_S later
    backend.down = False
    assert store.get_result("T" + "0" * 64) is None and backend.calls == 4  # asked again


def test_a_blob_whose_bytes_are_not_its_id_is_never_used(tmp_path: Path) -> None:
    backend = MemoryBackend()
    one = TieredStore(LocalStore(str(tmp_path / "one")), backend)
    r = _result(one.local, b"the right bytes")
    one.put_result(r)
    key = f"blobs/{ids.store_key(r.outputs[0].ref)}"
    backend.objects[key] = b"the wrong bytes"  # same length, other content
    two = TieredStore(LocalStore(str(tmp_path / "two")), backend)
    assert two.get_result(r.thunk_id) is None
    assert not two.local.has(r.outputs[0].ref) and key not in backend.objects  # removed there too
    assert stats_report.summary(str(tmp_path / "two")).corrupt_blobs == 1


def test_a_result_that_is_not_the_thunks_is_dropped(tmp_path: Path) -> None:
    backend = MemoryBackend()
    store = TieredStore(LocalStore(str(tmp_path)), backend)
    r = _result(store.local, b"y")
    other = "T" + "1" * 64
    backend.objects[f"results/{ids.store_key(other)}"] = r.to_json()  # filed under another thunk's key
    assert store.get_result(other) is None
    assert f"results/{ids.store_key(other)}" not in backend.objects


def test_blobs_seen_in_the_shared_store_are_not_asked_about_again_until_forgotten(tmp_path: Path) -> None:
    from ggcc.engines.uploads import Uploads

    backend = MemoryBackend()
    store = TieredStore(LocalStore(str(tmp_path)), backend)
    blobs = [store.local.put_bytes(b"one"), store.local.put_bytes(b"two")]
    uploads = Uploads(store)
    uploads.push(blobs)
    assert backend.missing([f"blobs/{ids.store_key(b)}" for b in blobs]) == []
    calls = backend.calls
    uploads.push(blobs)
    assert backend.calls == calls  # remembered: not asked
    backend.objects.clear()  # emptied behind the engine's back
    uploads.forget(blobs[:1])
    uploads.push(blobs)
    assert f"blobs/{ids.store_key(blobs[0])}" in backend.objects  # asked again, and sent again
    assert f"blobs/{ids.store_key(blobs[1])}" not in backend.objects  # still believed there
    expired = Uploads(store, ttl_s=0.0)
    expired.push(blobs)
    assert all(f"blobs/{ids.store_key(b)}" in backend.objects for b in blobs)
