"""The forcer daemon and its thin client: one daemon per GGCC_DIR, started by
the first launcher, shared, replaceable, and never a cause of a broken build."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers import alive, stop_daemons, wait_gone

GGCC = [sys.executable, "-m", "ggcc"]


def _env(store: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store), **extra)


def _stats(store: Path) -> dict[str, object]:
    import json

    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=_env(store), check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def _daemon_starts(store: Path) -> int:
    log = store / "daemon.log"
    return log.read_text().count(" serving ") if log.exists() else 0


def _daemon_pid(store: Path) -> int:
    return int((store / "daemon.pid").read_text())


def _slow_source(path: Path, functions: int = 1500) -> None:
    """A file gcc -O2 takes a second or more on."""
    body = "".join(
        f"int f{i}(int *a, int n) {{ int s = {i}; for (int k = 0; k < n; k++) s = s * 31 + a[k] * {i % 7 + 1}; return s; }}\n"
        for i in range(functions)
    )
    path.write_text(body)


def test_64_launchers_at_once_start_exactly_one_daemon(tmp_path: Path) -> None:
    store = tmp_path / "store"
    srcs = []
    for i in range(64):
        (tmp_path / f"u{i}.c").write_text(f"int u{i}(int x) {{ return x * {i}; }}\n")
        srcs.append(f"u{i}")
    procs = [
        subprocess.Popen(GGCC + ["gcc", "-O2", "-c", f"{s}.c", "-o", f"{s}.o"], cwd=tmp_path, env=_env(store))
        for s in srcs
    ]
    assert [p.wait(timeout=600) for p in procs] == [0] * 64
    assert _daemon_starts(store) == 1
    for s in srcs:
        subprocess.run(["gcc", "-O2", "-c", f"{s}.c", "-o", f"{s}.plain.o"], cwd=tmp_path, check=True)
        assert (tmp_path / f"{s}.o").read_bytes() == (tmp_path / f"{s}.plain.o").read_bytes()
    st = _stats(store)
    assert st["executed"] == 64 and st["local_fallbacks"] == {}, st


def test_status_stop_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = _env(store, GGCC_JOBS="3")
    p = subprocess.run(GGCC + ["daemon", "status"], capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "no daemon" in p.stdout
    p = subprocess.run(GGCC + ["daemon", "start"], capture_output=True, text=True, env=env, check=True)
    assert "jobs 3" in p.stdout
    pid = _daemon_pid(store)
    p = subprocess.run(GGCC + ["daemon", "status"], capture_output=True, text=True, env=env, check=True)
    assert f"pid {pid}" in p.stdout
    subprocess.run(GGCC + ["daemon", "start"], capture_output=True, env=env, check=True)
    assert _daemon_pid(store) == pid  # already running: not a second one
    p = subprocess.run(GGCC + ["daemon", "stop"], capture_output=True, text=True, env=env, check=True)
    assert "stopped" in p.stdout and wait_gone(pid, 5)
    assert not (store / "daemon.sock").exists()


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(store / "daemon.sock"))  # a daemon that died without cleaning up
    s.close()
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=_env(store), check=True)
    assert _daemon_starts(store) == 1
    assert _stats(store)["local_fallbacks"] == {}


def test_idle_daemon_exits(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=_env(store, GGCC_DAEMON_IDLE="1"), check=True)
    assert wait_gone(_daemon_pid(store), 20)
    assert not (store / "daemon.sock").exists() and "idle: exiting" in (store / "daemon.log").read_text()


def test_a_daemon_whose_directory_was_removed_leaves_and_spares_the_new_ones_socket(tmp_path: Path) -> None:
    """rm -rf GGCC_DIR under a running daemon (a CI workspace wiped): the
    next compile starts a new daemon in the new directory; the old one,
    unreachable, exits soon, without removing the new one's socket (it did,
    when it went idle: the next build then ran entirely without ggcc)."""
    import shutil

    store = tmp_path / "store"
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    env = _env(store, GGCC_DAEMON_IDLE="600")
    subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=env, check=True)
    old = _daemon_pid(store)
    # The daemon may still be filing the compile's records (the reply comes
    # first): removed the way `rm -rf` would be, again until it is gone.
    for _ in range(50):
        shutil.rmtree(store, ignore_errors=True)
        if not store.exists():
            break
        time.sleep(0.02)
    assert not store.exists()
    subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=env, check=True)
    new = _daemon_pid(store)
    log = store / "daemon.log"
    assert new != old and alive(new), log.read_text()
    assert wait_gone(old, 30), "the orphaned daemon is still running"
    assert (store / "daemon.sock").exists() and _daemon_pid(store) == new, log.read_text()
    subprocess.run(GGCC + ["gcc", "-c", "a.c", "-o", "b.o"], cwd=tmp_path, env=env, check=True)
    st = _stats(store)
    assert "daemon-unavailable" not in st["local_fallbacks"] and st["invocations"] == 2, (st, log.read_text())


def test_daemon_killed_mid_compile_the_compile_still_succeeds(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _slow_source(tmp_path / "slow.c")
    env = _env(store)
    subprocess.run(GGCC + ["daemon", "start"], env=env, check=True, capture_output=True)
    pid = _daemon_pid(store)
    proc = subprocess.Popen(GGCC + ["gcc", "-O2", "-c", "slow.c", "-o", "slow.o"], cwd=tmp_path, env=env)
    time.sleep(0.8)  # the daemon is scanning or compiling
    os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=600) == 0
    subprocess.run(["gcc", "-O2", "-c", "slow.c", "-o", "plain.o"], cwd=tmp_path, check=True)
    assert (tmp_path / "slow.o").read_bytes() == (tmp_path / "plain.o").read_bytes()
    assert _daemon_starts(store) == 2  # the launcher started a new one and asked again
    assert not list(tmp_path.glob(".ggcc-tmp-*"))  # nothing half-written beside the object


def test_without_a_daemon_the_real_compiler_runs(tmp_path: Path) -> None:
    """GGCC_DIR where no daemon can listen: the build goes on, counted."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "daemon.sock").mkdir()  # nothing can bind here
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    env = _env(store)
    p = subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=dict(env), capture_output=True)
    assert p.returncode == 0 and (tmp_path / "a.o").exists()
    assert _stats(store)["local_fallbacks"] == {"daemon-unavailable": 1}
    # The daemon that started and died is not waited for, and the failure
    # is remembered: the next compiles go local at once, no new attempt
    # (under -j500 each would otherwise wait its turn on the start lock).
    assert (store / "daemon.start-failed").exists()
    attempts = (store / "daemon.log").read_text().count("daemon.sock")
    assert attempts == 1
    (tmp_path / "b.c").write_text("int b(void) { return 2; }\n")
    p = subprocess.run(GGCC + ["gcc", "-c", "b.c"], cwd=tmp_path, env=dict(env), capture_output=True)
    assert p.returncode == 0 and (tmp_path / "b.o").exists()
    assert (store / "daemon.log").read_text().count("daemon.sock") == attempts
    assert _stats(store)["local_fallbacks"] == {"daemon-unavailable": 2}
    # Once fixed, an explicit start does not wait out the remembered failure.
    (store / "daemon.sock").rmdir()
    subprocess.run(GGCC + ["daemon", "start"], env=dict(env), check=True, capture_output=True)
    p = subprocess.run(GGCC + ["gcc", "-c", "b.c"], cwd=tmp_path, env=dict(env), capture_output=True)
    assert p.returncode == 0 and _stats(store)["executed"] == 1
    assert not (store / "daemon.start-failed").exists()


def test_in_process_mode(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    env = _env(store, GGCC_DAEMON="0")
    subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=env, check=True)
    assert not (store / "daemon.pid").exists()
    assert _stats(store)["executed"] == 1


def test_two_builds_in_two_directories_share_one_daemon(tmp_path: Path) -> None:
    store = tmp_path / "store"
    trees = []
    for name in ("one", "two"):
        t = tmp_path / name
        (t / "include").mkdir(parents=True)
        # Same file names, different contents: nothing may be mixed up.
        (t / "include" / "v.h").write_text(f'#define WHO "{name}"\n')
        for i in range(6):
            (t / f"m{i}.c").write_text(f'#include "v.h"\nconst char *m{i}(void) {{ return WHO "{i}"; }}\n')
        trees.append(t)
    procs = []
    for t in trees:
        for i in range(6):
            cmd = GGCC + ["gcc", "-O2", "-Iinclude", "-c", f"m{i}.c", "-o", f"m{i}.o"]
            procs.append(subprocess.Popen(cmd, cwd=t, env=_env(store)))
    assert all(p.wait(timeout=600) == 0 for p in procs)
    for t in trees:
        for i in range(6):
            subprocess.run(["gcc", "-O2", "-Iinclude", "-c", f"m{i}.c", "-o", f"p{i}.o"], cwd=t, check=True)
            assert (t / f"m{i}.o").read_bytes() == (t / f"p{i}.o").read_bytes()
    assert _daemon_starts(store) == 1


def test_a_changed_header_is_never_served_stale_by_a_warm_daemon(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "v.h").write_text("#define V 1\n")
    (tmp_path / "a.c").write_text('#include "v.h"\nint a(void) { return V; }\n')
    env = _env(store)
    for v in ("1", "2", "3"):
        (tmp_path / "v.h").write_text(f"#define V {v}\n")  # same size, same second
        subprocess.run(GGCC + ["gcc", "-O2", "-c", "a.c"], cwd=tmp_path, env=env, check=True)
        subprocess.run(["gcc", "-O2", "-c", "a.c", "-o", "p.o"], cwd=tmp_path, check=True)
        assert (tmp_path / "a.o").read_bytes() == (tmp_path / "p.o").read_bytes()
    assert _daemon_starts(store) == 1


def test_launchers_keep_the_build_tools_descriptors_out_of_the_daemon(tmp_path: Path) -> None:
    """A daemon holding the build tool's output pipe would hang it: the
    launcher's caller must see EOF as soon as the launcher exits."""
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    t = time.monotonic()
    p = subprocess.run(GGCC + ["gcc", "-c", "a.c"], cwd=tmp_path, env=_env(store), capture_output=True, timeout=60)
    assert p.returncode == 0 and time.monotonic() - t < 30
    assert alive(_daemon_pid(store))
    stop_daemons(tmp_path)


def test_stats_by_tier_engine_bytes_and_waiting(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text("#include <stdio.h>\nint a(void) { return puts(\"a\"); }\n")
    for _ in range(2):
        subprocess.run(GGCC + ["gcc", "-O2", "-c", "a.c"], cwd=tmp_path, env=_env(store), check=True)
    subprocess.run(GGCC + ["gcc", "a.o", "-shared", "-o", "liba.so"], cwd=tmp_path, env=_env(store), check=True)
    s = _stats(store)
    assert s["hits_by_tier"] == {"local_store": 1, "shared_store": 0} and s["direct_hits"] == 1, s
    assert s["executed_by_engine"] == {"local": 2, "workers": 0, "lambda": 0, "reapi": 0} and s["links"] == 1 and s["link_traces"] == 1, s
    assert s["bytes_hashed"] > 1000 and s["launcher_wait_s"] > 0, s
    text = subprocess.run(GGCC + ["stats"], env=_env(store), capture_output=True, text=True, check=True).stdout
    assert "by tier        1 local store, 0 shared store" in text and "links            1 (1 traced)" in text


def test_records_wait_for_quiet_unless_a_lookup_needs_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A direct-mode record runs once no request has been answered for
    QUIET_S (or after RECORD_DELAY_S, or when the backlog is too long),
    not while a build keeps the daemon busy; a lookup of a pending key
    makes it run at once."""
    import threading

    from ggcc.launcher import context
    from ggcc.launcher.context import QUIET_S, Context

    delay = 2.0
    monkeypatch.setattr(context, "RECORD_DELAY_S", delay)
    ctx = Context(str(tmp_path / "store"), jobs=1)
    done: dict[str, float] = {}
    ran = threading.Event()

    def record(key: str) -> None:
        done[key] = time.monotonic()
        ran.set()

    try:
        ctx.answering(+1)  # a link being answered
        ctx.record_later(("a",), lambda: record("a"))
        assert not ran.wait(0.5)  # held back while the request is in hand
        ctx.answering(-1)
        t0 = time.monotonic()
        ctx.answering(+1)  # the next request of the build, at once
        ctx.answering(-1)
        assert ran.wait(delay)  # quiet now: it runs
        assert QUIET_S * 0.9 <= done["a"] - t0 < delay
        ran.clear()
        ctx.answering(+1)
        ctx.record_later(("b", "b-other-roots"), lambda: record("b"))
        t1 = time.monotonic()
        ctx.settle("b-other-roots")  # another root's lookup of it: no waiting out the delay
        assert "b" in done and time.monotonic() - t1 < delay / 2
        ran.clear()
        t2 = time.monotonic()
        ctx.record_later(("c",), lambda: record("c"))
        assert ran.wait(delay + 2) and "c" in done  # still busy: at most the delay late
        assert done["c"] - t2 >= delay * 0.9
        ran.clear()
        monkeypatch.setattr(context, "RECORD_BACKLOG", 2)
        gate = threading.Event()
        ctx.record_later(("d",), lambda: (gate.wait(5), record("d")) and None)
        t3 = time.monotonic()
        for k in ("e", "f", "g"):  # a backlog past the bound: they go though busy
            ctx.record_later((k,), lambda k=k: record(k))  # type: ignore[misc]
        gate.set()
        assert ran.wait(delay) and "d" in done and done["d"] - t3 < delay / 2
        ctx.answering(-1)
    finally:
        ctx.close()


def test_a_record_the_store_was_cleared_under_is_unfiled_not_an_error(tmp_path: Path) -> None:
    """A record that meets a `ggcc cache clear` (a store file gone as it
    writes) lost only cache; anything else it meets is an error, counted."""
    import errno

    from ggcc.commands.stats_report import as_dict, summary
    from ggcc.launcher.context import Context

    root = str(tmp_path / "store")
    ctx = Context(root, jobs=1)

    def gone() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", os.path.join(root, "results", "r1"))

    def broken() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp_path / "elsewhere"))

    try:
        ctx.record_later(("a",), gone)
        ctx.record_later(("b",), broken)
        ctx.settle("a")
        ctx.settle("b")
    finally:
        ctx.close()
    s = as_dict(summary(root))
    assert s["unfiled"] == {"store-changed": 1} and s["errors"] == 1, s
