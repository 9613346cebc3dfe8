"""Putting a real output over its placeholder: only while the placeholder
is there, never recreating a file the build moved away."""

from __future__ import annotations

import os
from pathlib import Path

from ggcc.fsutil import copy_over_if_unchanged


def _files(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "real.o"
    src.write_bytes(b"\x7fELF real object")
    dest = tmp_path / "x.o"
    dest.write_bytes(b"placeholder")
    return src, dest


def test_replaces_the_placeholder(tmp_path: Path) -> None:
    src, dest = _files(tmp_path)
    assert copy_over_if_unchanged(str(src), str(dest), b"placeholder", 0o640)
    assert dest.read_bytes() == src.read_bytes()
    assert os.stat(dest).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.o", "x.o"]  # no temporary left


def test_a_moved_placeholder_is_not_recreated(tmp_path: Path) -> None:
    src, dest = _files(tmp_path)
    dest.rename(tmp_path / "x.lo")
    assert not copy_over_if_unchanged(str(src), str(dest), b"placeholder")
    assert not dest.exists()
    assert (tmp_path / "x.lo").read_bytes() == b"placeholder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.o", "x.lo"]


def test_a_file_the_build_wrote_itself_is_kept(tmp_path: Path) -> None:
    src, dest = _files(tmp_path)
    dest.write_bytes(b"the build's own object")
    assert not copy_over_if_unchanged(str(src), str(dest), b"placeholder")
    assert dest.read_bytes() == b"the build's own object"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.o", "x.o"]
