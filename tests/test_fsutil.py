"""Putting a real output over its placeholder: only while the placeholder
is there, never recreating a file the build moved away."""

from __future__ import annotations

import os
from pathlib import Path

from ggcc.base.fsutil import copy_over_if_unchanged


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


def test_atomic_writes_skip_a_stray_temporary_and_leave_none(tmp_path: Path) -> None:
    """A temporary named as the next one would be (left by a killed process
    with this pid) is neither reused nor overwritten."""
    import threading

    from ggcc.base import fsutil

    n = next(fsutil._serial) + 1
    stray = tmp_path / f".ggcc-tmp-{os.getpid()}-{threading.get_ident():x}-{n}"
    stray.write_bytes(b"someone else's")
    big = os.urandom(3 << 20)
    (tmp_path / "src").write_bytes(big)
    fsutil.atomic_write_bytes(tmp_path / "a", b"data", 0o640)
    fsutil.atomic_copy(tmp_path / "src", tmp_path / "b", 0o751)
    assert (tmp_path / "a").read_bytes() == b"data" and os.stat(tmp_path / "a").st_mode & 0o777 == 0o640
    assert (tmp_path / "b").read_bytes() == big and os.stat(tmp_path / "b").st_mode & 0o777 == 0o751
    assert stray.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a", "b", "src", stray.name])


def test_parsed_files_are_parsed_again_only_when_rewritten(tmp_path: Path) -> None:
    from ggcc.base import fsutil

    parsed: list[bytes] = []

    def parse(data: bytes) -> bytes:
        parsed.append(data)
        return data.upper()

    cache = fsutil.ParsedFiles(parse)
    p = tmp_path / "m"
    fsutil.atomic_write_bytes(p, b"one")
    assert cache.get(str(p)) == b"ONE" and cache.get(str(p)) == b"ONE"
    assert parsed == [b"one"]  # the second get was a stat
    st = os.stat(p)
    fsutil.atomic_write_bytes(p, b"two")  # same size; the same mtime too:
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.get(str(p)) == b"TWO"  # the rename's new inode tells
    assert parsed == [b"one", b"two"]


def test_an_atomic_write_makes_its_directory_only_when_asked(tmp_path: Path) -> None:
    import pytest

    from ggcc.base import fsutil

    deep = tmp_path / "a" / "b" / "rec"
    with pytest.raises(FileNotFoundError):
        fsutil.atomic_write_bytes(deep, b"x")
    fsutil.atomic_write_bytes(deep, b"x", make_dirs=True)
    fsutil.atomic_write_bytes(deep, b"yz", make_dirs=True)  # the directory there now: one try
    assert deep.read_bytes() == b"yz" and os.listdir(deep.parent) == ["rec"]
