"""Direct-mode records: absent paths kept as their directories, checked by listing."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ggcc.launcher import manifest


def _age(d: Path, seconds: float = 60) -> int:
    t = time.time() - seconds
    os.utime(d, (t, t))
    return os.stat(d).st_mtime_ns


def test_absent_paths_compress_to_their_directory_and_a_new_one_is_seen(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "present.h").write_text("")
    mtime = _age(inc)
    absent = (str(inc / "stdio.h"), str(inc / "stdlib.h"), str(tmp_path / "gone" / "x.h"), str(tmp_path / "lone.h"))
    got = manifest.compress_absent(absent)
    assert got is not None
    singles, dirs = got
    assert (str(inc), mtime) in dirs and str(tmp_path / "lone.h") in singles
    # Asked again (the listing remembered), then with one of them created:
    # the directory's mtime moves, the listing is taken again, the record refused.
    assert manifest.compress_absent(absent) == got
    (inc / "stdlib.h").write_text("")
    _age(inc, 30)
    assert manifest.compress_absent(absent) is None
    # A dangling symlink exists as lexists sees it.
    (inc / "stdlib.h").unlink()
    os.symlink("nowhere", inc / "stdio.h")
    _age(inc, 20)
    assert manifest.compress_absent(absent) is None


def test_a_directory_changed_just_now_keeps_its_paths_one_by_one(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    absent = (str(inc / "a.h"), str(inc / "b.h"))
    got = manifest.compress_absent(absent)
    assert got == (absent, ())
