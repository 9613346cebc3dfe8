from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
from helpers import flip_in_place as _flip_in_place
from helpers import ggcc_stats

from ggcc.base.errors import GgccError
from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.storage import upkeep
from ggcc.storage.hash_cache import RACY_WINDOW_S, HashCache
from ggcc.storage.local_store import CorruptBlob, LocalStore


def _writer(root: str, worker: int, rounds: int) -> list[str]:
    store = LocalStore(root)
    made = []
    for r in range(rounds):
        shared = (b"shared blob %d\n" % r) * 5000  # every worker writes these
        own = (b"worker %d round %d\n" % (worker, r)) * 3000  # only this one
        made.append(store.put_bytes(shared))
        made.append(store.put_bytes(own))
    return made


def test_many_processes_write_same_and_different_blobs(tmp_path: Path) -> None:
    root = str(tmp_path / "s")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(8) as pool:
        results = pool.starmap(_writer, [(root, w, 40) for w in range(8)])
    store = LocalStore(root)
    all_ids = {i for r in results for i in r}
    assert len(all_ids) == 40 + 8 * 40
    for i in all_ids:
        assert store.read_bytes(i)  # present, complete, hash checked
    leftovers = [n for d, _, names in os.walk(root) for n in names if n.startswith(".new-")]
    assert leftovers == []  # no temporary file survived
    st = upkeep.usage(store)
    assert st.blobs == len(all_ids)


def test_blob_files_are_read_only(store: LocalStore) -> None:
    vid = store.put_bytes(b"data")
    assert os.stat(store.blob_path(vid)).st_mode & 0o777 == 0o444


def test_corrupt_blob_is_detected_and_removed(store: LocalStore) -> None:
    vid = store.put_bytes(b"the right content")
    path = store.blob_path(vid)
    os.chmod(path, 0o644)
    Path(path).write_bytes(b"the wrong content")  # same size, other bytes
    with pytest.raises(GgccError, match="corrupt"):
        store.read_bytes(vid)
    assert not os.path.exists(path)


def test_truncated_blob_is_refused_for_use(store: LocalStore) -> None:
    vid = store.put_bytes(b"0123456789")
    path = store.blob_path(vid)
    os.chmod(path, 0o644)
    Path(path).write_bytes(b"01234")
    assert not LocalStore(store.root).has(vid)  # this instance saw it whole, and remembers until a use
    with pytest.raises(CorruptBlob):
        store.path_for_use(vid, False)
    assert not store.has(vid)


@pytest.mark.parametrize("executable", [False, True])
def test_a_blob_damaged_in_place_is_never_used(store: LocalStore, executable: bool) -> None:
    data = os.urandom(100_000)
    vid = store.put_bytes(data)
    store.path_for_use(vid, executable)  # known good now, in this process
    _flip_in_place(store.blob_path(vid) + (".x" if executable else ""))
    for user in (store, LocalStore(store.root)):  # this process, and one that never saw it
        vid = user.put_bytes(data) if user is not store else vid
        if user is not store:
            user.path_for_use(vid, executable)
            _flip_in_place(user.blob_path(vid) + (".x" if executable else ""))
        with pytest.raises(CorruptBlob):
            user.path_for_use(vid, executable)
        assert not os.path.exists(user.blob_path(vid)) and not user.has(vid)
    assert ggcc_stats(Path(store.root))["corrupt_blobs"] == 2


def test_copy_out_checks_every_byte(store: LocalStore, tmp_path: Path) -> None:
    vid = store.put_bytes(b"x" * 5000)
    with open(tmp_path / "good", "wb") as f:
        store.copy_out(vid, f)
    assert (tmp_path / "good").read_bytes() == b"x" * 5000
    _flip_in_place(store.blob_path(vid))
    with open(tmp_path / "bad", "wb") as f, pytest.raises(CorruptBlob):
        store.copy_out(vid, f)
    assert not store.has(vid)


def test_a_checked_blob_is_not_hashed_again_until_it_changes(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    vid = store.put_bytes(os.urandom(10_000))
    hashed: list[str] = []
    real = ids.hash_file
    monkeypatch.setattr(ids, "hash_file", lambda p, *a, **k: hashed.append(str(p)) or real(p, *a, **k))
    for _ in range(3):
        store.path_for_use(vid, False)
    assert hashed == []  # written by this process: known good
    other = LocalStore(store.root)
    for _ in range(3):
        other.path_for_use(vid, False)
    assert len(hashed) == 1  # another process checks it once
    os.chmod(store.blob_path(vid), 0o444)  # any change of the inode: checked again
    other.path_for_use(vid, False)
    assert len(hashed) == 2


def test_results_round_trip_and_failures_are_not_cached(store: LocalStore) -> None:
    vid = store.put_bytes(b"out")
    tid = ids.thunk_id_of_bytes(b"some thunk")
    ok = Result(tid, 0, (OutputValue("o", vid, True),), b"warn\n", b"\xff\x00err")
    store.put_result(ok)
    got = store.get_result(tid)
    assert got == ok
    with pytest.raises(ValueError):
        store.put_result(Result(tid, 1))


def test_result_whose_output_was_evicted_is_a_miss(store: LocalStore) -> None:
    vid = store.put_bytes(b"out")
    tid = ids.thunk_id_of_bytes(b"t")
    store.put_result(Result(tid, 0, (OutputValue("o", vid),)))
    store.remove_blob(vid)
    assert store.get_result(tid) is None


def test_corrupt_result_record_is_a_miss(store: LocalStore) -> None:
    tid = ids.thunk_id_of_bytes(b"t2")
    store.put_result(Result(tid, 0))
    Path(store.result_path(tid)).write_bytes(b'{"thunk": "trunc')
    assert store.get_result(tid) is None


def test_trim_evicts_least_recently_used(store: LocalStore) -> None:
    blobs = [store.put_bytes(bytes([i]) * 10_000) for i in range(10)]
    now = time.time()
    for age, vid in enumerate(blobs):  # blobs[0] is the newest
        os.utime(store.blob_path(vid), (now - age * 7200, now))  # atime is the recency
    store.path_for_use(blobs[9], False)  # using the oldest makes it the newest
    removed, freed = upkeep.trim(store, 60_000)
    assert removed == 5 and freed == 50_000
    kept = {v for v in blobs if store.has(v)}
    assert kept == {blobs[0], blobs[1], blobs[2], blobs[3], blobs[9]}
    assert upkeep.trim(store, 60_000) == (0, 0)


def test_a_blob_removed_by_another_process_is_not_reported_present(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The daemon remembers which blobs it has seen (no stat per header per
    # compile); a trim or a clear elsewhere must end that memory.
    monkeypatch.setattr("ggcc.storage.memory.REMOVALS_CHECK_S", 0.0)
    root = str(tmp_path / "s")
    daemon, other = LocalStore(root), LocalStore(root)
    kept, trimmed = daemon.put_bytes(b"k" * 10_000), daemon.put_bytes(b"t" * 10_000)
    assert daemon.has(kept) and daemon.has(trimmed)
    now = time.time()
    os.utime(other.blob_path(trimmed), (now - 7200, now))
    assert upkeep.trim(other, 15_000) == (1, 10_000)
    assert daemon.has(kept) and not daemon.has(trimmed)
    upkeep.clear(other)
    assert not daemon.has(kept)


def test_a_blob_deleted_by_hand_is_forgotten_when_a_use_finds_it_missing(store: LocalStore) -> None:
    vid = store.put_bytes(b"x" * 1000)
    assert store.has(vid)
    os.unlink(store.blob_path(vid))  # no stamp: the store cannot know yet
    with pytest.raises(GgccError, match="is not in the store"):
        store.path_for_use(vid, False)
    assert not store.has(vid)
    assert store.put_bytes(b"x" * 1000) == vid and os.path.exists(store.blob_path(vid))  # stored again


def test_hash_cache_never_hashes_an_unchanged_file_twice(tmp_path: Path, store: LocalStore) -> None:
    f = tmp_path / "src.c"
    f.write_bytes(b"int x;\n" * 1000)
    old = time.time() - 10
    os.utime(f, (old, old))
    time.sleep(RACY_WINDOW_S + 0.1)  # ctime, which utime cannot set back, must age too
    hc = HashCache(store.root)
    first = hc.file_id(str(f))
    assert hc.hashed_bytes == 7000
    assert hc.file_id(str(f)) == first
    assert hc.hashed_bytes == 7000  # in-memory hit
    other = HashCache(store.root)  # another process: the on-disk entry
    assert other.file_id(str(f)) == first
    assert other.hashed_bytes == 0
    f.write_bytes(b"int y;\n" * 1000)  # same size, new content
    os.utime(f, (old + 1, old + 1))
    assert other.file_id(str(f)) == ids.value_id_of_bytes(b"int y;\n" * 1000)


def test_hash_cache_does_not_trust_a_just_written_file(tmp_path: Path, store: LocalStore) -> None:
    f = tmp_path / "fresh.h"
    f.write_bytes(b"a")
    hc = HashCache(store.root)
    hc.file_id(str(f))
    hc.file_id(str(f))
    assert hc.hashed_bytes == 2  # within the racy window: hashed each time


def test_a_stored_blob_is_never_replaced(store: LocalStore) -> None:
    # Replacing would leave readers that resolved the old name with an inode
    # that link(2) refuses (ENOENT): sandboxes link blobs concurrently.
    vid = store.put_bytes(b"same content")
    ino = os.stat(store.blob_path(vid)).st_ino
    store._install(store.blob_path(vid), lambda out: out.write(b"same content"))  # a racing writer
    assert os.stat(store.blob_path(vid)).st_ino == ino
    xpath = store.path_for_use(vid, True)
    xino = os.stat(xpath).st_ino
    store._install(xpath, lambda out: out.write(b"same content"), 0o555)
    assert os.stat(xpath).st_ino == xino
    assert [n for n in os.listdir(os.path.dirname(xpath)) if n.startswith(".new-")] == []


def test_a_file_edited_since_it_was_hashed_is_not_stored_under_the_old_id(tmp_path: Path, store: LocalStore) -> None:
    # The scan hashed the header, then an editor saved it (same size): the
    # bytes copied no longer have that id, and storing them under it would
    # give every later build the new content for the old one.
    f = tmp_path / "h.h"
    f.write_bytes(b"#define A 1\n")
    old = ids.hash_file(f)
    f.write_bytes(b"#define A 2\n")
    with pytest.raises(GgccError, match="changed while being stored"):
        store.put_file(str(f), old)
    assert not store.has(old)
    assert store.put_file(str(f), ids.hash_file(f)) == ids.hash_file(f)  # the right id stores it
    shard = os.path.dirname(store.blob_path(old))
    assert [n for n in os.listdir(shard) if n.startswith(".new-")] == []


def test_verify_drops_bad_entries(store: LocalStore) -> None:
    good = store.put_bytes(b"good blob")
    bad = store.put_bytes(b"soon to be bad")
    os.chmod(store.blob_path(bad), 0o644)
    Path(store.blob_path(bad)).write_bytes(b"SOON TO BE BAD")  # same size
    tid = ids.thunk_id_of_bytes(b"t")
    store.put_result(Result(tid, 0, (OutputValue("o", good),)))
    broken = ids.thunk_id_of_bytes(b"u")
    store.put_result(Result(broken, 0))
    Path(store.result_path(broken)).write_text("{")
    assert upkeep.verify(store) == (4, 2)
    assert store.has(good) and not store.has(bad)
    assert store.get_result(tid) is not None
    assert upkeep.verify(store) == (2, 0)
