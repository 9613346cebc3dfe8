"""Two machines (two GGCC_DIRs) sharing one Redis, then one S3 bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from debian_sources import copy_of, zlib_commands
from servers import redis_server, s3_server

GGCC = [sys.executable, "-m", "ggcc"]


def _stats(env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    return json.loads(subprocess.run(GGCC + ["stats", "--json"], env=env, capture_output=True, text=True, check=True).stdout)


def _build(cmds: list[tuple[list[str], str]], env: dict[str, str]) -> dict[str, bytes]:
    outs = {}
    for argv, cwd in cmds:
        obj = os.path.join(cwd, argv[argv.index("-o") + 1])
        if os.path.exists(obj):
            os.unlink(obj)
        p = subprocess.run(GGCC + argv, cwd=cwd, env=env, capture_output=True)
        assert p.returncode == 0, p.stderr
        outs[obj] = Path(obj).read_bytes()
    return outs


def _plain(cmds: list[tuple[list[str], str]]) -> dict[str, bytes]:
    outs = {}
    for argv, cwd in cmds:
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        obj = os.path.join(cwd, argv[argv.index("-o") + 1])
        outs[obj] = Path(obj).read_bytes()
    return outs


def _machine(tmp_path: Path, name: str, storage: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, GGCC_DIR=str(tmp_path / name), GGCC_STORAGE=storage, GGCC_SANDBOX="strict")
    env.update(extra or {})
    return env


def _share(tmp_path: Path, storage: str, extra: dict[str, str] | None = None) -> None:
    tree = copy_of("zlib", tmp_path)
    cmds = zlib_commands(tree, "-O2")
    plain = _plain(cmds)
    first = _machine(tmp_path, "first", storage, extra)
    assert _build(cmds, first) == plain
    assert _stats(first)["executed"] == len(cmds)
    second = _machine(tmp_path, "second", storage, extra)
    assert _build(cmds, second) == plain
    s = _stats(second)
    assert (s["cache_hits"], s["direct_hits"], s["remote_hits"], s["executed"], s["compiler_scans"],
            s["own_scans"]) == (len(cmds), len(cmds), len(cmds), 0, 0, 0), s
    assert s["hits_by_tier"] == {"local_store": 0, "shared_store": len(cmds)}, s  # each hit in one tier
    assert s["errors"] == 0


def test_two_stores_share_one_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as r:
        _share(tmp_path, r.uri)


def test_two_stores_share_one_s3_bucket(tmp_path: Path) -> None:
    with s3_server("ggcc-share") as env:
        _share(tmp_path, "s3://ggcc-share/cache?region=us-east-1", env)


def test_corrupt_object_in_the_shared_store_is_not_used(tmp_path: Path) -> None:
    import redis

    tree = copy_of("zlib", tmp_path)
    cmds = zlib_commands(tree, "-O2")[:4]
    plain = _plain(cmds)
    with redis_server(tmp_path) as r:
        _build(cmds, _machine(tmp_path, "first", r.uri))
        client = redis.Redis(port=r.port)
        spoiled = 0
        for key in client.scan_iter("blobs/*:0"):
            data = client.get(key)
            assert data is not None
            client.set(key, bytes(b ^ 0xFF for b in data))  # same size, wrong bytes
            spoiled += 1
        assert spoiled >= len(cmds)
        second = _machine(tmp_path, "second", r.uri)
        assert _build(cmds, second) == plain
        s = _stats(second)
        assert s["executed"] == len(cmds) and s["remote_hits"] == 0
        assert s["corrupt_blobs"] >= len(cmds) and s["errors"] == 0, s
        # The damaged objects were removed from Redis, and the second
        # machine's runs put the right ones back: a third one gets hits.
        third = _machine(tmp_path, "third", r.uri)
        assert _build(cmds, third) == plain
        s = _stats(third)
        assert (s["remote_hits"], s["executed"], s["corrupt_blobs"]) == (len(cmds), 0, 0), s


def test_a_blob_damaged_here_is_never_sent(tmp_path: Path) -> None:
    from helpers import flip_in_place

    from ggcc.storage import open_store
    from ggcc.storage.local_store import CorruptBlob

    with redis_server(tmp_path) as r:
        store = open_store(str(tmp_path / "s"), r.uri)
        vid = store.local.put_bytes(os.urandom(50_000))
        flip_in_place(store.local.blob_path(vid))
        with pytest.raises(CorruptBlob):
            store.push_blobs([vid])
        assert store.shared is not None
        assert store.shared.missing([f"blobs/{vid[1:]}"]) == [f"blobs/{vid[1:]}"]
        assert not store.local.has(vid)


def test_two_stores_share_one_reapi_cache(tmp_path: Path) -> None:
    from reapi_stack import buildgrid_cache

    with buildgrid_cache(tmp_path / "bg") as bg:
        _share(tmp_path, bg.uri)


@contextmanager
def _killable(kind: str, tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A shared store's URI and what kills it."""
    if kind == "redis":
        with redis_server(tmp_path) as r:
            yield r.uri, r.kill
    else:
        from reapi_stack import buildgrid_cache

        with buildgrid_cache(tmp_path / "bg") as bg:
            yield bg.uri, bg.kill_server


@pytest.mark.parametrize("kind", ["redis", "reapi"])
def test_storage_killed_mid_build_the_build_completes(tmp_path: Path, kind: str) -> None:
    tree = copy_of("zlib", tmp_path)
    cmds = zlib_commands(tree, "-O2")
    plain = _plain(cmds)
    with _killable(kind, tmp_path) as (uri, kill):
        env = _machine(tmp_path, "m", uri)
        half = len(cmds) // 2
        got = _build(cmds[:half], env)
        kill()
        got.update(_build(cmds[half:], env))
        assert got == plain
        s = _stats(env)
        assert s["executed"] == len(cmds)
        # The daemon notices once, then leaves the shared tier alone for a while.
        assert s["storage_fallbacks"] >= 1
        assert s["local_fallbacks"] == {}, s


@pytest.mark.parametrize(
    "uri, message",
    [
        ("s3://key:secret@bucket/p", "credentials do not belong in the URI"),
        ("ftp://host/x", "not supported"),
        ("redis://host:6379/notanumber", "database number"),
        ("grpcs://token:secret@host:1985", "credentials go in GGCC_REAPI_HEADERS"),
        ("grpc://host:1985/instance", "the instance in GGCC_REAPI_INSTANCE"),
        ("grpc://host", "no port"),
    ],
)
def test_bad_storage_uri(tmp_path: Path, uri: str, message: str) -> None:
    env = dict(os.environ, GGCC_DIR=str(tmp_path / "s"), GGCC_STORAGE=uri)
    p = subprocess.run(GGCC + ["cache", "stats"], env=env, capture_output=True, text=True)
    assert p.returncode == 2 and message in p.stderr and "secret" not in p.stderr


def test_an_evicted_redis_chunk_is_a_miss_not_an_outage(tmp_path: Path) -> None:
    import redis

    from ggcc.storage.uri import open_backend

    with redis_server(tmp_path) as r:
        b = open_backend(r.uri)
        src = tmp_path / "big"
        src.write_bytes(os.urandom((8 << 20) + 100))  # two chunks
        b.put_file("blobs/k", str(src))
        assert b.get_file("blobs/k", str(tmp_path / "copy")) and (tmp_path / "copy").read_bytes() == src.read_bytes()
        redis.Redis(port=r.port).delete("blobs/k:1")
        assert b.get_file("blobs/k", str(tmp_path / "copy2")) is False
        assert b.missing(["blobs/k", "blobs/other"]) == ["blobs/other"]


def test_an_reapi_cache_as_a_backend(tmp_path: Path) -> None:
    """Blobs in the CAS (a big one through ByteStream), records as
    ActionCache entries: a result's entry names its outputs; an entry whose
    record is gone or lies is a miss, never an error."""
    from reapi_stack import buildgrid_cache

    from ggcc.formats import ids
    from ggcc.formats.result import OutputValue, Result
    from ggcc.storage.reapi_backend import RECORD, record_action
    from ggcc.storage.reapi_cas import digest
    from ggcc.storage.uri import open_backend

    from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2

    with buildgrid_cache(tmp_path / "bg") as bg:
        b = open_backend(bg.uri)
        big = tmp_path / "big"
        big.write_bytes(os.urandom((6 << 20) + 5))  # over the 4 MiB batch: streamed both ways
        key = f"blobs/{ids.hash_file(str(big))[1:]}"
        absent = f"blobs/{ids.value_id_of_bytes(b'never stored')[1:]}"
        assert b.missing([key, absent]) == [key, absent]
        b.put_file(key, str(big))
        assert b.missing([key, absent]) == [absent]
        assert b.get_file(key, str(tmp_path / "copy")) and (tmp_path / "copy").read_bytes() == big.read_bytes()
        assert b.get_file(absent, str(tmp_path / "none")) is False

        result = Result(ids.thunk_id_of_bytes(b"t"), 0, (OutputValue("o", key.replace("blobs/", "V"), True),), b"out")
        b.put_small("results/r", result.to_json())
        assert b.get_small("results/r") == result.to_json()
        entry = b.conn.cached_result(record_action("results/r"))  # type: ignore[attr-defined]
        assert entry is not None and {f.path: f.digest.hash for f in entry.output_files} == {
            RECORD: ids.value_id_of_bytes(result.to_json())[1:65], "outputs/0": key[6:70]}
        assert [f.is_executable for f in entry.output_files if f.path == "outputs/0"] == [True]
        b.delete("results/r")
        assert b.get_small("results/r") is None and b.get_small("manifests/never") is None

        # An entry naming a record the CAS does not hold (evicted): a miss.
        lost = ids.value_id_of_bytes(b"a record never uploaded")
        b.conn.update_result(record_action("manifests/m"), re_pb2.ActionResult(  # type: ignore[attr-defined]
            output_files=[re_pb2.OutputFile(path=RECORD, digest=digest(lost))]))
        assert b.get_small("manifests/m") is None


def test_a_read_only_redis_user_reads_and_is_told_once(tmp_path: Path) -> None:
    """Teams let CI write the cache and developers read it: a user without
    write commands gets the hits, its own results stay here, the refusal is
    counted once and the store is never taken for down."""
    import redis

    tree = copy_of("zlib", tmp_path)
    cmds = zlib_commands(tree, "-O2")[:6]
    plain = _plain(cmds)
    with redis_server(tmp_path) as r:
        assert _build(cmds[:4], _machine(tmp_path, "ci", r.uri)) == {k: plain[k] for k in list(plain)[:4]}
        redis.Redis(port=r.port).execute_command("ACL", "SETUSER", "dev", "on", ">dev-secret", "~*", "+@all", "-@write")
        dev = _machine(tmp_path, "dev", r.uri, {"GGCC_REDIS_USERNAME": "dev", "GGCC_REDIS_PASSWORD": "dev-secret"})
        # A miss first: its write is refused before the hits are asked for.
        order = [cmds[4], *cmds[:4], cmds[5]]
        assert _build(order, dev) == plain
        s = _stats(dev)
        assert (s["remote_hits"], s["executed"], s["storage_fallbacks"], s["errors"]) == (4, 2, 0, 1), s
        assert "writes refused" in json.dumps(s["error_kinds"]) and "dev-secret" not in json.dumps(s)
        # Nothing of the reader's went to the store: a writer runs those two again.
        writer = _machine(tmp_path, "ci2", r.uri)
        assert _build(cmds, writer) == plain
        s = _stats(writer)
        assert (s["remote_hits"], s["executed"]) == (4, 2), s


def test_an_reapi_cache_that_takes_no_updates_is_read_not_written(tmp_path: Path) -> None:
    """A server that says (GetCapabilities) this client may not update its
    ActionCache: nothing is uploaded, the build runs here, said once, the
    store not taken for down."""
    from reapi_stack import buildgrid_cache

    from ggcc.formats import ids
    from ggcc.storage.uri import open_backend

    tree = copy_of("zlib", tmp_path)
    cmds = zlib_commands(tree, "-O2")[:3]
    with buildgrid_cache(tmp_path / "bg", read_only=True) as bg:
        env = _machine(tmp_path, "dev", bg.uri)
        outs = _build(cmds, env)
        assert outs == _plain(cmds)
        s = _stats(env)
        assert (s["executed"], s["storage_fallbacks"], s["errors"]) == (3, 0, 1), s
        assert "no ActionCache updates" in json.dumps(s["error_kinds"]), s
        keys = [f"blobs/{ids.value_id_of_bytes(data)[1:]}" for data in outs.values()]
        assert open_backend(bg.uri).missing(keys) == keys  # no output was uploaded for nothing


def test_reads_refused_are_an_outage_not_read_only(tmp_path: Path) -> None:
    """Only a refused write makes a store read-only: a user that may not
    read is a store that cannot serve (StorageError), said as such."""
    import redis

    from ggcc.storage.backend import ReadOnly, StorageError
    from ggcc.storage.uri import open_backend

    with redis_server(tmp_path) as r:
        redis.Redis(port=r.port).execute_command("ACL", "SETUSER", "blind", "on", ">pw", "~*", "+@all", "-@read")
        b = open_backend(r.uri, {"GGCC_REDIS_USERNAME": "blind", "GGCC_REDIS_PASSWORD": "pw"})
        with pytest.raises(StorageError) as e:
            b.get_small("results/x")
        assert not isinstance(e.value, ReadOnly) and "reads refused" in str(e.value)
