"""Direct-mode records: absent paths kept as their directories, checked
against the scanner's directory listings."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ggcc.dependency_scan.scan_cache import ScanCache
from ggcc.launcher import manifest
from ggcc.storage.hash_cache import HashCache


def _age(d: Path, seconds: float = 60) -> int:
    t = time.time() - seconds
    os.utime(d, (t, t))
    return os.stat(d).st_mtime_ns


@pytest.mark.parametrize("listed", [True, False], ids=["listing", "lexists"])
def test_absent_paths_compress_to_their_directory_and_a_new_one_is_seen(tmp_path: Path, listed: bool) -> None:
    cache = ScanCache(None, HashCache(None))  # one cache: its remembered listings are revalidated
    listing = cache.session().listing if listed else None
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "present.h").write_text("")
    mtime = _age(inc)
    absent = (str(inc / "stdio.h"), str(inc / "stdlib.h"), str(tmp_path / "gone" / "x.h"), str(tmp_path / "lone.h"))
    got = manifest.compress_absent(absent, listing)
    assert got is not None
    singles, dirs, listed = got
    assert listed == ()  # no build tree named
    assert (str(inc), mtime) in dirs and str(tmp_path / "lone.h") in singles
    # One of them created: the directory's mtime moves, the record is refused.
    (inc / "stdlib.h").write_text("")
    _age(inc, 30)
    listing = cache.session().listing if listed else None
    assert manifest.compress_absent(absent, listing) is None
    # A dangling symlink would be opened by gcc's lookup: it counts.
    (inc / "stdlib.h").unlink()
    os.symlink("nowhere", inc / "stdio.h")
    _age(inc, 20)
    listing = cache.session().listing if listed else None
    assert manifest.compress_absent(absent, listing) is None


def test_a_directory_changed_just_now_keeps_its_paths_one_by_one(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    absent = (str(inc / "a.h"), str(inc / "b.h"))
    assert manifest.compress_absent(absent, ScanCache(None, HashCache(None)).session().listing) == (absent, (), ())


def test_the_builds_own_tree_is_checked_by_name_not_by_its_mtime(tmp_path: Path) -> None:
    """An autotools build looks for every system header in `.` first, and
    writes its objects and programs there: an entry that stood on `.`'s
    mtime was invalid by the end of the build that made it."""
    from ggcc.formats import ids

    build = tmp_path / "build"
    build.mkdir()
    hdr = build / "config.h"
    hdr.write_text("#define X 1\n")
    _age(hdr)
    _age(build, 30)
    root = str(tmp_path / "store")
    hashes = HashCache(None)
    absent = (str(build / "stdio.h"), str(build / "stdlib.h"), str(build / "string.h"))
    entry = manifest.Entry((("config.h", hashes.file_id(str(hdr))),), absent,
                           ids.as_thunk_id(ids.value_id_of_bytes(b"t")), "")
    manifest.record(root, "k", entry, inside=str(build))
    kept = manifest.lookup(root, "k", str(build), hashes)
    assert kept is not None and kept.absent_listed == ((str(build), ("stdio.h", "stdlib.h", "string.h")),)
    (build / "main.o").write_bytes(b"an object")  # the build goes on writing here
    (build / "prog").write_bytes(b"a program")
    assert manifest.lookup(root, "k", str(build), hashes) is not None
    (build / "stdlib.h").write_text("")  # a header that would be found first now
    assert manifest.lookup(root, "k", str(build), hashes) is None


def test_after_edits_a_lookup_hashes_the_edited_source_once_and_finds_a_reverted_version(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    src = tmp_path / "a.c"
    hdr = tmp_path / "a.h"
    hdr.write_text("int h;\n")
    _age(hdr)
    hashes = HashCache(None)
    versions = [f"int v{i};\n".encode() * 100 for i in range(5)]
    from ggcc.formats import ids

    for i, v in enumerate(versions):  # one entry per earlier version of the source, as edits leave them
        entry = manifest.Entry((("a.c", ids.value_id_of_bytes(v)), ("a.h", hashes.file_id(str(hdr)))),
                               (str(tmp_path / "absent.h"),), ids.as_thunk_id(ids.value_id_of_bytes(b"%d" % i)), "")
        manifest.record(root, "k", entry)
    src.write_bytes(b"int new;\n" * 100)  # just written: the hash cache will not keep its id
    before = hashes.hashed_bytes
    assert manifest.lookup(root, "k", str(tmp_path), hashes) is None
    assert hashes.hashed_bytes - before == len(b"int new;\n" * 100)  # once, not once per entry
    src.write_bytes(versions[2])  # the user undoes the edits back to a version compiled before
    found = manifest.lookup(root, "k", str(tmp_path), hashes)
    assert found is not None and found.thunk_id == ids.as_thunk_id(ids.value_id_of_bytes(b"2"))



def test_without_the_scanner_every_has_include_probe_is_an_input_or_must_stay_absent(tmp_path: Path) -> None:
    from ggcc.dependency_scan import probes

    (tmp_path / "inc").mkdir()
    (tmp_path / "sys").mkdir()
    (tmp_path / "sys" / "there.h").write_text("int there;\n")  # probed, found, never read
    (tmp_path / "a.c").write_text('#if __has_include(<gone.h>) || __has_include_next ( "there.h" )\n#endif\n')
    got = probes.looked_for(["a.c"], ["inc", "sys"], str(tmp_path))
    assert got is not None
    present, absent = got
    there = str(tmp_path / "sys" / "there.h")
    assert present == (there,)  # its removal would change the answer: an input
    for d in ("", "inc/", "sys/"):  # the includer's directory, then the search list
        assert str(tmp_path / f"{d}gone.h") in absent
    assert str(tmp_path / "there.h") in absent and there not in absent
    (tmp_path / "a.c").write_text("#define H <gone.h>\n#if __has_include(H)\n#endif\n")
    assert probes.looked_for(["a.c"], ["inc", "sys"], str(tmp_path)) is None  # which file: unknown
