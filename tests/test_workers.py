"""Build farms: `ggcc worker`s in their own network namespaces, Redis in
another, the build on this machine with GGCC_ENGINE=workers. Same bytes as
the plain build, through a worker killed mid-build and Redis restarted."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from debian_sources import build_outputs, configure_libuv, copy_of, zlib_outputs, zlib_plain_and_ours
from helpers import GGCC, cmake_launcher_flags, ggcc_stats, stop_daemons
from servers import redis_server


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Farm:
    """A bridge on this machine; Redis in one namespace, each worker in its own."""

    def __init__(self, tmp: Path, workers: int) -> None:
        self.tmp = tmp
        self.tag = f"gg{random.randrange(10**4):04d}"
        self.net = f"10.{random.randrange(64, 250)}.{random.randrange(1, 250)}"
        self.bridge = f"{self.tag}br"
        self.names = ["r"] + [f"w{i}" for i in range(1, workers + 1)]
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.made: list[str] = []

    @property
    def redis_ip(self) -> str:
        return f"{self.net}.10"

    @property
    def uri(self) -> str:
        return f"redis://{self.redis_ip}:6379/0"

    def ns(self, name: str) -> str:
        return f"{self.tag}{name}"

    def up(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self.made.append("bridge")
        _ip("addr", "add", f"{self.net}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, name in enumerate(self.names):
            ns, host_end, ns_end = self.ns(name), f"{self.tag}{name}a", f"{self.tag}{name}b"
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", ns)
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.net}.{10 + i}/24", "dev", ns_end)
            _ip("-n", ns, "link", "set", ns_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        self.start_redis()
        for name in self.names[1:]:
            self.start_worker(name)

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["ip", "netns", "exec", self.ns("r"), "redis-server", "--bind", self.redis_ip, "--port", "6379",
             "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while subprocess.run(["redis-cli", "-h", self.redis_ip, "ping"], capture_output=True).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "redis did not come up in its namespace"
            time.sleep(0.1)

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait()

    def start_worker(self, name: str) -> None:
        env = dict(os.environ, GGCC_DIR=str(self.tmp / f"worker-{name}"), GGCC_WORKER_CLAIM_S="3")
        log = open(self.tmp / f"worker-{name}.log", "ab")
        self.workers[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(name), *GGCC, "worker", "--storage", self.uri, "--jobs", "2",
             "--name", name],
            env=env, stdout=log, stderr=subprocess.STDOUT)

    def executed_by(self, name: str) -> int:
        return int(ggcc_stats(self.tmp / f"worker-{name}")["executed"])

    def down(self) -> None:
        for p in self.workers.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.redis is not None and self.redis.poll() is None:
            self.kill_redis()
        for what in reversed(self.made):
            if what == "bridge":
                subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            else:
                subprocess.run(["ip", "netns", "del", what], capture_output=True)


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    f = Farm(tmp_path / "farm", workers=2)
    (tmp_path / "farm").mkdir()
    try:
        f.up()
        yield f
    finally:
        f.down()


def _env(store: Path, uri: str) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store), GGCC_ENGINE="workers", GGCC_STORAGE=uri)


def test_zlib_built_by_two_workers_in_their_namespaces(farm: Farm, tmp_path: Path) -> None:
    listed = subprocess.run(GGCC + ["workers", "--storage", farm.uri, "--json"], capture_output=True, check=True)
    deadline = time.monotonic() + 20
    while len(json.loads(listed.stdout)["workers"]) < 2:
        assert time.monotonic() < deadline, listed.stdout
        time.sleep(0.5)
        listed = subprocess.run(GGCC + ["workers", "--storage", farm.uri, "--json"], capture_output=True, check=True)
    plain, ours = zlib_plain_and_ours(tmp_path)
    store = tmp_path / "store"
    ggcc = " ".join(GGCC)
    make = ["make", "-j4", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"]
    try:
        subprocess.run(make, cwd=ours, check=True, capture_output=True, env=_env(store, farm.uri))
    finally:
        stop_daemons(tmp_path)
    want = zlib_outputs(plain)
    got = zlib_outputs(ours)
    assert len(want) >= 40 and sorted(n for n in want if got.get(n) != want[n]) == []
    s = ggcc_stats(store)
    assert s["local_fallbacks"] == {}, s
    assert s["executed_by_engine"] == {"local": 0, "workers": s["executed"], "lambda": 0, "reapi": 0} and s["executed"] > 30, s
    by_worker = [farm.executed_by(n) for n in ("w1", "w2")]
    assert sum(by_worker) == s["executed"] and min(by_worker) > 0, by_worker
    shown = subprocess.run(GGCC + ["workers", "--storage", farm.uri], capture_output=True, text=True, check=True)
    assert "2 live workers" in shown.stdout and "w1:" in shown.stdout and "w2:" in shown.stdout


def test_no_live_worker_means_local_and_counted(tmp_path: Path) -> None:
    with redis_server(tmp_path) as r:
        (tmp_path / "m.c").write_text("int f(int x) { return x * 3; }\n")
        store = tmp_path / "store"
        env = dict(_env(store, r.uri), GGCC_DAEMON="0")
        subprocess.run(GGCC + ["gcc", "-O2", "-c", "m.c", "-o", "m.o"], cwd=tmp_path, env=env, check=True)
        subprocess.run(["gcc", "-O2", "-c", "m.c", "-o", "p.o"], cwd=tmp_path, check=True)
        assert (tmp_path / "m.o").read_bytes() == (tmp_path / "p.o").read_bytes()
        s = ggcc_stats(store)
        assert s["engine_fallbacks"] == {"no-workers": 1} and s["local_fallbacks"] == {}, s


def _when_objects(build: Path, n: int, action: object, done: threading.Event) -> None:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if len(list(build.rglob("*.o"))) >= n:
            action()  # type: ignore[operator]
            done.set()
            return
        time.sleep(0.2)


@pytest.mark.long  # three minutes; zlib through two workers stays in the default suite
def test_libuv_through_the_farm_with_a_worker_killed_and_redis_restarted(farm: Farm, tmp_path: Path) -> None:
    store = tmp_path / "store"
    tree = copy_of("libuv1", tmp_path)
    build = tree / "build"
    outputs = {}
    killed, restarted = threading.Event(), threading.Event()

    def kill_worker() -> None:
        farm.workers["w1"].kill()

    def restart_redis() -> None:
        farm.kill_redis()
        time.sleep(2)
        farm.start_redis()

    for kind in ("plain", "ours"):
        env = _env(store, farm.uri) if kind == "ours" else dict(os.environ)
        configure_libuv(build, cmake_launcher_flags() if kind == "ours" else [], env)
        faults = []
        if kind == "ours":
            faults = [threading.Thread(target=_when_objects, args=(build, 80, kill_worker, killed)),
                      threading.Thread(target=_when_objects, args=(build, 250, restart_redis, restarted))]
            for t in faults:
                t.start()
        try:
            subprocess.run(["ninja", "-j6"], cwd=build, check=True, capture_output=True, env=env)
        finally:
            for t in faults:
                t.join()
            stop_daemons(tmp_path)
        outputs[kind] = build_outputs(build)
    assert killed.is_set() and restarted.is_set()
    want, got = outputs["plain"], outputs["ours"]
    assert len(want) > 400 and sorted(want) == sorted(got)
    assert sorted(n for n in want if got[n] != want[n]) == []
    s = ggcc_stats(store)
    engines = s["executed_by_engine"]
    assert engines["workers"] > 100, s  # most went to the farm
    # Around the restart (Redis down, then empty: entries, answers and stored
    # outputs gone) the forcer ran thunks here, each counted with its
    # reason; nothing fell back for any other reason.
    fallbacks = {**s["local_fallbacks"], **s["engine_fallbacks"]}
    assert all(r.startswith("workers-") or r in ("no-workers", "daemon-unavailable") for r in fallbacks), s
    assert sum(fallbacks.values()) < engines["workers"], s
    assert farm.executed_by("w2") > 0


def test_a_straggler_is_enqueued_again_and_the_first_answer_wins(tmp_path: Path) -> None:
    """A worker that takes the thunk and never answers (stuck): after
    GGCC_WORKERS_STRAGGLER_S the forcer enqueues it again, a live worker
    answers, and that answer is the result."""
    import redis

    from ggcc.workers.queue import Queue

    with redis_server(tmp_path) as r:
        q = Queue(redis.Redis(port=r.port))
        q.ensure_group()
        q.heartbeat("stuck", 1, 0, 0)
        taken: list[object] = []
        stuck = threading.Thread(target=lambda: taken.extend(q.take("stuck", 1, block_ms=30000)))
        stuck.start()
        store = tmp_path / "store"
        env = dict(_env(store, r.uri), GGCC_DAEMON="0", GGCC_WORKERS_STRAGGLER_S="2")
        (tmp_path / "s.c").write_text("int f(int x) { return x * 7; }\n")
        cmd = ["gcc", "-O2", "-c", "s.c", "-o", "s.o"]
        build = subprocess.Popen(GGCC + cmd, cwd=tmp_path, env=env)
        stuck.join(timeout=60)
        assert len(taken) == 1  # the stuck worker has it, and will never answer
        worker = subprocess.Popen(GGCC + ["worker", "--storage", r.uri, "--jobs", "1", "--name", "live"],
                                  env=dict(os.environ, GGCC_DIR=str(tmp_path / "live"), GGCC_WORKER_CLAIM_S="600"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert build.wait(timeout=120) == 0
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        subprocess.run(cmd[:-1] + ["p.o"], cwd=tmp_path, check=True)
        assert (tmp_path / "s.o").read_bytes() == (tmp_path / "p.o").read_bytes()
        s = ggcc_stats(store)
        assert s["local_fallbacks"] == {} and s["executed_by_engine"]["workers"] == 1, s
        assert s["workers_duplicates"] == 1, s
        shown = subprocess.run(GGCC + ["stats"], env=env, capture_output=True, text=True, check=True).stdout
        assert "1 workers, 0 lambda, 0 reapi (1 stragglers sent twice)" in shown


def test_entries_that_are_not_jobs_are_dropped_and_deliveries_counted(tmp_path: Path) -> None:
    import redis

    from ggcc.workers.queue import STREAM, Queue

    with redis_server(tmp_path) as r:
        q = Queue(redis.Redis(port=r.port))
        q.ensure_group()
        q.r.xadd(STREAM, {"junk": "1"})
        q.r.xadd(STREAM, {"thunk": "T1", "resolved": "[]", "reply": "ggcc:reply:x"})  # resolved is not a map
        entry, reply = q.submit("Tabc", {"Tdef": "Vdef"})
        jobs = q.take("a", 10, block_ms=100)
        assert [(j.entry, j.thunk_id, j.resolved, j.reply) for j in jobs] == [(entry, "Tabc", {"Tdef": "Vdef"}, reply)]
        assert q.r.xlen(STREAM) == 1  # the two others were acknowledged and removed
        assert q.deliveries(entry) == 1
        q.r.xclaim(STREAM, "ggcc-workers", "b", 0, [entry])
        assert q.deliveries(entry) == 2


def test_inputs_gone_from_the_shared_store_are_sent_again_once(tmp_path: Path) -> None:
    """The engine does not ask the shared store again about blobs it saw
    there lately (engines/uploads.py). When they are gone (a Redis emptied)
    a fresh worker answers that an input is missing: the engine checks
    everything, uploads again, and the farm runs the thunk, not this machine."""
    import redis

    from ggcc.workers.queue import Queue

    def worker(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(GGCC + ["worker", "--storage", r.uri, "--jobs", "1", "--name", name],
                                env=dict(os.environ, GGCC_DIR=str(tmp_path / name)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_for(name: str) -> None:
        deadline = time.monotonic() + 30
        while name not in {w.get("name") for w in q.live_workers()}:
            assert time.monotonic() < deadline, q.live_workers()
            time.sleep(0.2)

    with redis_server(tmp_path) as r:
        client = redis.Redis(port=r.port)
        q = Queue(client)
        store = tmp_path / "store"
        env = _env(store, r.uri)
        first = worker("first")
        try:
            wait_for("first")
            for name in ("a", "b"):
                (tmp_path / f"{name}.c").write_text(f"#include <stdio.h>\nint {name}(void) {{ return puts(\"{name}\"); }}\n")
            p = subprocess.run(GGCC + ["gcc", "-O2", "-c", "a.c", "-o", "a.o"], cwd=tmp_path, env=env, check=True,
                               capture_output=True, text=True)
            first.terminate()
            first.wait(timeout=30)
            gone = [k for k in client.scan_iter("blobs/*")]
            log = store / "daemon.log"
            assert gone, (p.stderr, log.read_text(errors="replace")[-3000:] if log.exists() else "no daemon.log")
            client.delete(*gone)
            second = worker("second")  # its own empty store: it must fetch the compiler from the shared store
            try:
                wait_for("second")
                subprocess.run(GGCC + ["gcc", "-O2", "-c", "b.c", "-o", "b.o"], cwd=tmp_path, env=env, check=True)
            finally:
                second.terminate()
                second.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
            stop_daemons(tmp_path)
        subprocess.run(["gcc", "-O2", "-c", "b.c", "-o", "p.o"], cwd=tmp_path, check=True)
        assert (tmp_path / "b.o").read_bytes() == (tmp_path / "p.o").read_bytes()
        s = ggcc_stats(store)
        assert s["engine_fallbacks"] == {} and s["local_fallbacks"] == {}, s
        assert s["executed_by_engine"]["workers"] == 2, s
