"""GGCC_ENGINE=reapi against a real farm: BuildGrid (PostgreSQL behind its
scheduler) and generic workers that know nothing of ggcc (reapi_worker.py).
Same bytes as the plain build; the second build all ActionCache hits; a
fresh GGCC_DIR gets its hits from the farm; the server gone: local, counted."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from debian_sources import zlib_outputs, zlib_plain_and_ours
from helpers import GGCC, ggcc_stats, stop_daemons
from reapi_stack import Stack, buildgrid


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with buildgrid(tmp_path_factory.mktemp("buildgrid"), workers=2) as stack:
        yield stack


def _env(store: Path, uri: str) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store), GGCC_ENGINE="reapi", GGCC_REAPI=uri, GGCC_WORKERS_TIMEOUT="120")


def _make(tree: Path, env: dict[str, str], *extra: str) -> None:
    ggcc = " ".join(GGCC)
    make = ["make", "-j4", *extra, f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"]
    subprocess.run(make, cwd=tree, check=True, capture_output=True, env=env)


def _zlib_as_plain(plain: Path, ours: Path, store: Path, uri: str, daemons: Path) -> dict[str, Any]:
    """Build ``ours`` over the farm with its own GGCC_DIR; every output as
    the plain build's; that build's counters."""
    try:
        _make(ours, _env(store, uri))
    finally:
        stop_daemons(daemons)
    want, got = zlib_outputs(plain), zlib_outputs(ours)
    assert len(want) >= 40 and sorted(n for n in want if got.get(n) != want[n]) == []
    return ggcc_stats(store)


def test_zlib_over_reapi_then_from_its_action_cache(farm: Stack, tmp_path: Path) -> None:
    plain, ours = zlib_plain_and_ours(tmp_path)
    s = _zlib_as_plain(plain, ours, tmp_path / "store1", farm.uri, tmp_path)
    assert s["engine_fallbacks"] == {} and s["local_fallbacks"] == {}, s
    assert s["executed_by_engine"]["reapi"] == s["executed"] and s["executed"] > 30, s
    logs = "".join((farm.dir / f"worker{i}.log").read_text() for i in range(2))
    assert "Traceback" not in logs, logs

    # Another machine's empty GGCC_DIR: every step from the farm's ActionCache.
    subprocess.run(["make", "clean"], cwd=ours, check=True, capture_output=True)
    s2 = _zlib_as_plain(plain, ours, tmp_path / "store2", farm.uri, tmp_path)
    assert s2["executed_by_engine"]["reapi"] == s2["executed"] == s["executed"], s2
    assert s2["reapi_cache_hits"] == s2["executed"], s2


def test_the_server_gone_means_local_and_counted(tmp_path: Path) -> None:
    stack = Stack(tmp_path)  # never started: nothing listens on its port
    (tmp_path / "m.c").write_text("int f(int x) { return x * 3; }\n")
    store = tmp_path / "store"
    env = dict(_env(store, stack.uri), GGCC_DAEMON="0")
    p = subprocess.run(GGCC + ["gcc", "-O2", "-c", "m.c", "-o", "m.o"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, check=True)
    subprocess.run(["gcc", "-O2", "-c", "m.c", "-o", "p.o"], cwd=tmp_path, check=True)
    assert (tmp_path / "m.o").read_bytes() == (tmp_path / "p.o").read_bytes()
    s = ggcc_stats(store)
    assert s["executed_by_engine"]["local"] == 1, s
    assert any("GGCC_ENGINE=reapi" in e and "UNAVAILABLE" in e for e in s["error_kinds"]), s


def test_the_server_killed_mid_build_the_build_completes_here(tmp_path: Path) -> None:
    plain, ours = zlib_plain_and_ours(tmp_path)
    store = tmp_path / "store"
    with buildgrid(tmp_path / "farm", workers=1) as stack:
        ggcc = " ".join(GGCC)
        make = subprocess.Popen(["make", "-j4", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"], cwd=ours,
                                env=_env(store, stack.uri), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 300
            while len(list(ours.glob("*.o"))) < 6 and make.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            stack.kill_server()
            _, err = make.communicate(timeout=600)
        finally:
            stop_daemons(tmp_path)
    assert make.returncode == 0, err
    want, got = zlib_outputs(plain), zlib_outputs(ours)
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    s = ggcc_stats(store)
    by = s["executed_by_engine"]
    assert by["reapi"] >= 6 and by["local"] > 0 and by["reapi"] + by["local"] == s["executed"], s
    assert sum(n for why, n in s["engine_fallbacks"].items() if why.startswith("reapi-")) == by["local"], s


@pytest.mark.long  # minutes: libuv's ~450 compiles and links over the farm
def test_libuv_over_reapi_with_a_worker_killed(farm: Stack, libuv_plain: tuple[Path, dict[str, bytes]],
                                               tmp_path: Path) -> None:
    """Compiles and links of a CMake project; one worker killed mid-build
    (its action is given to the other once its session lapses)."""
    from debian_sources import build_outputs, configure_libuv

    from helpers import cmake_launcher_flags

    tree, want = libuv_plain
    build = tree / "build"
    store = tmp_path / "store"
    env = _env(store, farm.uri)
    configure_libuv(build, cmake_launcher_flags(), env)
    ninja = subprocess.Popen(["ninja", "-j8"], cwd=build, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while len(list(build.rglob("*.o"))) < 60 and ninja.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        victim = farm.workers[0]
        os.killpg(victim.pid, 9)
        out, _ = ninja.communicate(timeout=1200)
    finally:
        stop_daemons(tmp_path)
        farm.start_worker()  # the module's farm keeps two live workers
    assert ninja.returncode == 0, out[-3000:]
    got = build_outputs(build)
    assert len(want) > 400 and sorted(want) == sorted(got)
    assert sorted(n for n in want if got[n] != want[n]) == []
    s = ggcc_stats(store)
    assert s["executed_by_engine"]["reapi"] > 300, s
    assert s["engine_fallbacks"] == {} or all(w.startswith("reapi-") for w in s["engine_fallbacks"]), s


def test_inputs_gone_from_the_cas_are_uploaded_again(tmp_path: Path) -> None:
    """The server restarted empty (as an eviction would leave it) while the
    daemon believes its toolchain is in the CAS: the worker says an input
    is missing (FAILED_PRECONDITION), the engine uploads again and retries."""
    plain, ours = zlib_plain_and_ours(tmp_path)
    store = tmp_path / "store"
    flags = "-O1 -DHAVE_HIDDEN"  # no -g: the two trees lie at different paths
    with buildgrid(tmp_path / "farm", workers=1) as stack:
        env = _env(store, stack.uri)
        try:
            _make(ours, env)
            stack.kill_workers()  # their caches go with them
            stack.kill_server()
            stack.start_server()  # the CAS and ActionCache in memory: empty
            stack.start_worker()
            subprocess.run(["make", "clean"], cwd=ours, check=True, capture_output=True)
            _make(ours, env, f"CFLAGS={flags}")
        finally:
            stop_daemons(tmp_path)
    subprocess.run(["make", "clean"], cwd=plain, check=True, capture_output=True)
    subprocess.run(["make", "-j4", f"CFLAGS={flags}"], cwd=plain, check=True, capture_output=True)
    want, got = zlib_outputs(plain), zlib_outputs(ours)
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    s = ggcc_stats(store)
    assert s["engine_fallbacks"] == {} and s["executed_by_engine"]["reapi"] == s["executed"], s
    assert any("missing from the CAS" in e for e in s["error_kinds"]), s


def test_a_dynamic_graph_over_reapi(farm: Stack, tmp_path: Path) -> None:
    """A step whose output is a thunk, and which writes the thunk that one
    needs to .ggcc/thunks: both come back from the farm (the output as a
    thunk, the new thunk from the output directory), and ggcc forces them
    there until a value, as a local run would."""
    from ggcc.engines import EngineSettings, make_engine
    from ggcc.engines.scheduler import force
    from ggcc.formats.thunk import NEW_THUNKS_DIR, ROOT_TOKEN, Input, Output, Thunk
    from ggcc.storage.local_store import LocalStore

    store = LocalStore(str(tmp_path / "store"))
    sh = Input(".ggcc/bin/sh", store.put_file("/bin/sh"), True)

    def sh_step(script: str, inputs: list[Input], out: str) -> Thunk:
        return Thunk.make(sh, [f"{ROOT_TOKEN}/.ggcc/bin/sh", "-c", script], {}, inputs, [Output(out, out)])

    leaf = sh_step("echo 42 > answer", [], "answer")  # never stored here: only the farm's step makes it
    after = sh_step("expr $(cat answer) + 1 > result", [Input("answer", leaf.id)], "result")
    lb, ab = leaf.serialize(), after.serialize()
    # The thunks' bytes in halves, so that this store never holds them whole.
    halves = [Input(name, store.put_bytes(part)) for name, part in
              (("l1", lb[:10]), ("l2", lb[10:]), ("a1", ab[:10]), ("a2", ab[10:]))]
    maker = sh_step(f"mkdir -p {NEW_THUNKS_DIR} && cat l1 l2 > {NEW_THUNKS_DIR}/{leaf.id} && cat a1 a2 > next",
                    halves, "next")
    store.put_thunk(maker)
    assert not store.has(leaf.id) and not store.has(after.id)
    engine = make_engine(EngineSettings(name="reapi", reapi_uri=farm.uri, workers_timeout_s=120), store, 2)
    try:
        report = force([maker.id], store, engine)
    finally:
        engine.shutdown()
    assert report.ok, report.failures
    assert store.read_bytes(report.values[maker.id].ref) == b"43\n"
    s = ggcc_stats(tmp_path / "store")
    assert s["executed_by_engine"]["reapi"] == 3 and s["engine_fallbacks"] == {}, s


def _steps_that_asked_the_cache(store: Path) -> tuple[int, int]:
    """(results whose step asked the ActionCache before Execute, results)."""
    import json as _json

    timings = [_json.loads(p.read_bytes()).get("timings_ms", {}) for p in (store / "results").glob("*/*")]
    return sum("ac" in t for t in timings), len(timings)


def test_after_a_streak_of_misses_execute_looks_up_the_cache(farm: Stack, tmp_path: Path) -> None:
    """A cold build stops asking the ActionCache before each step once it
    has missed AC_MISS_STREAK times in a row (Execute looks it up instead);
    a step Execute answers from the cache brings the lookup back."""
    from debian_sources import copy_of

    from ggcc.engines.reapi import AC_MISS_STREAK

    tree = copy_of("zlib", tmp_path)
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    # Actions no other test of the module builds (SFLAGS: the shared library's objects)
    mine = [f"{v}=-O1 -fPIC -DGGCC_STREAK_TEST" for v in ("CFLAGS", "SFLAGS")]
    a = tmp_path / "a"
    try:
        _make(tree, _env(a, farm.uri), *mine)
    finally:
        stop_daemons(tmp_path)
    s = ggcc_stats(a)
    steps = s["executed"]
    asked, results = _steps_that_asked_the_cache(a)
    assert s["executed_by_engine"]["reapi"] == steps > AC_MISS_STREAK + 10 and s["engine_fallbacks"] == {}, s
    assert AC_MISS_STREAK <= asked <= AC_MISS_STREAK + 4 and results == steps  # 4: jobs deciding at once

    # Another machine: new steps first (the streak runs out), then the first
    # machine's: Execute answers the first of them from the cache, and the
    # lookup before uploads comes back for the rest.
    b = tmp_path / "b"
    try:
        subprocess.run(["make", "clean"], cwd=tree, check=True, capture_output=True)
        _make(tree, _env(b, farm.uri), *(f"{v}=-O1 -fPIC -DGGCC_STREAK_TEST_OTHER" for v in ("CFLAGS", "SFLAGS")))
        subprocess.run(["make", "clean"], cwd=tree, check=True, capture_output=True)
        _make(tree, _env(b, farm.uri), *mine)
    finally:
        stop_daemons(tmp_path)
    s = ggcc_stats(b)
    assert s["reapi_cache_hits"] == steps and s["engine_fallbacks"] == {}, s
    asked_b, results_b = _steps_that_asked_the_cache(b)
    only_a = results_b - steps  # the final build's steps that the other one did not share (links without CFLAGS...)
    assert only_a > 20 and asked_b >= AC_MISS_STREAK + only_a - 4, (asked_b, results_b, steps)
