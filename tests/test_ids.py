from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ggcc.formats import ids


@given(st.binary(max_size=4096))
def test_value_id_carries_hash_and_size(data: bytes) -> None:
    vid = ids.value_id_of_bytes(data)
    kind, digest, size = ids.parse_id(vid)
    assert kind == "V"
    assert digest == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert ids.is_valid_id(vid)
    assert ids.store_key(vid) == ids.store_key(ids.as_thunk_id(vid))


def test_hash_file_matches_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # spans several 1 MiB chunks? no: 1.28 MB, two chunks
    p = tmp_path / "f"
    p.write_bytes(data)
    assert ids.hash_file(p) == ids.value_id_of_bytes(data)
    assert ids.hash_file(p, ids.THUNK) == ids.thunk_id_of_bytes(data)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "e"
    p.write_bytes(b"")
    assert ids.hash_file(p) == "V" + hashlib.sha256(b"").hexdigest() + "00000000"


@pytest.mark.parametrize(
    "bad",
    ["", "V", "X" + "0" * 72, "V" + "0" * 63, "V" + "G" * 72, "V" + "0" * 64 + "0" * 7, "v" + "0" * 72],
)
def test_malformed_ids_rejected(bad: str) -> None:
    assert not ids.is_valid_id(bad)
    with pytest.raises(ValueError):
        ids.parse_id(bad)
