"""ggcc-client, the native launcher client (ggcc/client/native.c): a cache
hit without Python, and every doubt handed to the Python launcher, which
still compiles. A fake daemon (a socket that answers as told) shows which
client asked: the native one says ``compile-native``, Python ``compile``."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ggcc.client import wire

CLIENT = Path(sys.executable).parent / "ggcc-client"
SCRIPT = Path(sys.executable).parent / "ggcc"
SOURCE = "int f(int x) { return x * 3; }\n"


def test_the_client_was_built_at_install() -> None:
    assert os.access(CLIENT, os.X_OK), f"{CLIENT} missing: `pip install -e .` builds it (setup.py)"


def test_the_client_speaks_the_daemons_wire_version() -> None:
    text = (Path(__file__).parent.parent / "ggcc" / "client" / "native.c").read_text()
    m = re.search(r'#define WIRE_VERSION "([^"]*)"', text)
    assert m and m.group(1).encode() == wire.NATIVE_WIRE


def _env(store: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GGCC_")}
    return {**env, "GGCC_DIR": str(store), "GGCC_CONFIG": os.devnull, "GGCC_DAEMON_IDLE": "60", **extra}


def _status(store: Path) -> str:
    return subprocess.run([sys.executable, "-m", "ggcc", "daemon", "status"], env=_env(store), capture_output=True,
                          text=True, check=True).stdout


def test_a_hit_through_the_native_client_is_served_by_the_daemon(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text(SOURCE)
    env = _env(store)
    for _ in range(2):  # the first starts the daemon (through Python), the second is a hit
        (tmp_path / "a.o").unlink(missing_ok=True)
        subprocess.run([str(CLIENT), "gcc", "-O2", "-c", "a.c", "-o", "a.o"], cwd=tmp_path, env=env, check=True)
    subprocess.run(["gcc", "-O2", "-c", "a.c", "-o", "plain.o"], cwd=tmp_path, check=True)
    assert (tmp_path / "a.o").read_bytes() == (tmp_path / "plain.o").read_bytes()
    assert "native client 1 compiles" in _status(store)
    stats = json.loads(subprocess.run([sys.executable, "-m", "ggcc", "stats", "--json"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    assert stats["invocations"] == 2 and stats["cache_hits"] == 1, stats


def test_bin_ggcc_and_python_m_ggcc_reach_the_native_client(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text(SOURCE)
    env = _env(store)
    subprocess.run([str(SCRIPT), "gcc", "-c", "a.c", "-o", "1.o"], cwd=tmp_path, env=env, check=True)
    subprocess.run([str(SCRIPT), "gcc", "-c", "a.c", "-o", "2.o"], cwd=tmp_path, env=env, check=True)
    subprocess.run([sys.executable, "-m", "ggcc", "gcc", "-c", "a.c", "-o", "3.o"], cwd=tmp_path, env=env, check=True)
    subprocess.run([str(SCRIPT), "gcc", "-c", "a.c", "-o", "4.o"], cwd=tmp_path, env=dict(env, GGCC_NATIVE="0"),
                   check=True)
    assert "native client 2 compiles" in _status(store)


class FakeDaemon:
    """A socket at GGCC_DIR/daemon.sock answering each request with
    ``answer(fields)`` (None: close without a word)."""

    def __init__(self, store: Path, answer: Callable[[list[bytes]], list[bytes] | None]) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.kinds: list[bytes] = []
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with wire.short_path(wire.socket_path(str(store))) as p:
            self.sock.bind(p)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                fields = wire.read(conn)
                if fields is None:
                    continue
                self.kinds.append(fields[0])
                reply = self.answer(fields)
                if reply is not None:
                    conn.sendall(wire.encode(reply))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Callable[..., FakeDaemon]]:
    made: list[FakeDaemon] = []

    def make(answer: Callable[[list[bytes]], list[bytes] | None]) -> FakeDaemon:
        d = FakeDaemon(tmp_path / "store", answer)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def _python_says_hello(fields: list[bytes]) -> list[bytes] | None:
    """The native client gets an error; the Python launcher a done."""
    if fields[0] == b"compile":
        return [b"done", b"0", b"from-python\n", b""]
    return [b"error", b"a native client of another wire version"]


def _compile(tmp_path: Path, *args: str, client: Path = CLIENT, **extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "a.c").write_text(SOURCE)
    return subprocess.run([str(client), "gcc", "-c", "a.c", *args], cwd=tmp_path, env=_env(tmp_path / "store", **extra),
                          capture_output=True, text=True, timeout=60)


def test_a_daemon_of_another_wire_version_gets_the_compile_from_python(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    d = fake(_python_says_hello)
    p = _compile(tmp_path)
    assert p.returncode == 0 and p.stdout == "from-python\n", p.stderr
    assert d.kinds == [b"compile-native", b"compile"]


def test_a_done_reply_is_written_out_with_its_code(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    d = fake(lambda f: [b"done", b"3", b"out\x00bytes", b"err text\n"] if f[0] == b"compile-native" else None)
    p = subprocess.run([str(CLIENT), "gcc", "-c", "a.c"], cwd=tmp_path, env=_env(tmp_path / "store"),
                       capture_output=True, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (3, b"out\x00bytes", b"err text\n")
    assert d.kinds == [b"compile-native"]


def test_the_request_carries_what_the_python_launcher_sends(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    seen: list[list[bytes]] = []

    def record(fields: list[bytes]) -> list[bytes]:
        seen.append(fields)
        return [b"done", b"0", b"", b""]

    fake(record)
    _compile(tmp_path, "-DX=1", GGCC_NATIVE="1")
    _compile(tmp_path, "-DX=1", GGCC_NATIVE="0")
    native, python = seen
    assert native[:2] == [b"compile-native", wire.NATIVE_WIRE] and python[0] == b"compile"
    n, p = native[2:], python[1:]
    # compiler, cwd, umask, columns, view, sinks, argc, argv: the same
    assert n[:6] == p[:6] and n[6] == p[6] == b"4" and n[7:11] == p[7:11] == [b"gcc", b"-c", b"a.c", b"-DX=1"]
    env_n = {f.split(b"=", 1)[0]: f for f in n[11:]}
    env_p = {f.split(b"=", 1)[0]: f for f in p[11:]}
    for k in (b"GGCC_NATIVE", b"GGCC_CONFIG_SET"):
        env_n.pop(k, None), env_p.pop(k, None)
    env_p.pop(b"LC_CTYPE", None)
    env_n.pop(b"LC_CTYPE", None)
    assert env_n == env_p and b"GGCC_FROM_NATIVE" not in env_p


@pytest.mark.parametrize("answer", [
    lambda f: None,  # closed without a word
    lambda f: [b"done", b"0"],  # too few fields
    lambda f: [b"what"],  # a reply nobody knows
])
def test_a_daemon_that_fails_the_native_client_gets_it_from_python(tmp_path: Path, fake, answer) -> None:  # type: ignore[no-untyped-def]
    d = fake(lambda f: answer(f) if f[0] == b"compile-native" else _python_says_hello(f))
    p = _compile(tmp_path)
    assert p.returncode == 0 and p.stdout == "from-python\n", p.stderr
    assert d.kinds == [b"compile-native", b"compile"]


def test_a_local_answer_runs_the_compiler_here_and_says_the_message(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    d = fake(lambda f: [b"local", b"some-reason", b"ggcc: a message said once\n"])
    p = _compile(tmp_path, "-o", "a.o")
    assert p.returncode == 0 and p.stderr == "ggcc: a message said once\n"
    assert d.kinds == [b"compile-native"]  # asked once: the native client ran the compiler itself
    subprocess.run(["gcc", "-c", "a.c", "-o", "plain.o"], cwd=tmp_path, check=True)
    assert (tmp_path / "a.o").read_bytes() == (tmp_path / "plain.o").read_bytes()


def test_a_daemon_that_stops_reading_does_not_kill_the_client(tmp_path: Path) -> None:
    """A request bigger than the socket's buffers, refused half-read: no
    SIGPIPE; the compile goes to Python, which runs it here."""
    (tmp_path / "store").mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "store" / "daemon.sock"))
    sock.listen(4)

    def refuse() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.recv(16)
            conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    try:
        p = _compile(tmp_path, "-o", "a.o", **{f"BIG{i}": "x" * 100_000 for i in range(12)})
    finally:
        sock.close()
    assert p.returncode == 0 and (tmp_path / "a.o").exists(), p.stderr
    assert "did not start or answer" in p.stderr  # Python's word for it


@pytest.mark.parametrize("extra", [{"GGCC_NATIVE": "0"}, {"GGCC_DAEMON": "0"}])
def test_settings_that_hand_over_to_python(tmp_path: Path, fake, extra: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    d = fake(_python_says_hello)
    p = _compile(tmp_path, "-o", "a.o", **extra)
    assert p.returncode == 0
    assert b"compile-native" not in d.kinds


def test_a_config_file_is_read_by_python_only_for_the_clients_own_settings(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    d = fake(_python_says_hello)
    conf = tmp_path / "config.toml"
    for text, kinds in [("# nothing but a comment\n\n", [b"compile-native", b"compile"]),
                        ("jobs = 3\nmax_size = \"2G\"  # for the daemon\n", [b"compile-native", b"compile"]),
                        ("jobs = 3\ndir = \"/elsewhere\"\n", [b"compile"]),
                        ("GGCC_DISABLE = true\n", []),  # Python merged it: ggcc is off
                        ("this is not a setting\n", [b"compile"])]:
        conf.write_text(text)
        d.kinds.clear()
        p = _compile(tmp_path, GGCC_CONFIG=str(conf))
        assert p.returncode == 0 and d.kinds == kinds, (text, d.kinds, p.stderr)


def test_the_daemon_merges_the_config_file_the_client_left_to_it(tmp_path: Path) -> None:
    """A setting only the file gives reaches the compile the native client
    asked for: a wrong value, which the daemon says aloud."""
    store = tmp_path / "store"
    subprocess.run([sys.executable, "-m", "ggcc", "daemon", "start"], env=_env(store), check=True, capture_output=True)
    conf = tmp_path / "config.toml"
    conf.write_text('scan = "nonsense"\n')
    (tmp_path / "a.c").write_text(SOURCE)
    p = subprocess.run([str(CLIENT), "gcc", "-c", "a.c", "-o", "a.o"], cwd=tmp_path,
                       env=_env(store, GGCC_CONFIG=str(conf)), capture_output=True, text=True, check=True)
    assert "native client 1 compiles" in _status(store)
    assert "scan='nonsense'" in p.stderr, p.stderr


def test_disabled_runs_the_compiler_without_a_word_to_the_daemon(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    d = fake(_python_says_hello)
    p = _compile(tmp_path, "-o", "a.o", GGCC_DISABLE="1")
    assert p.returncode == 0 and (tmp_path / "a.o").exists() and d.kinds == []


def test_a_configure_probe_runs_here_and_is_counted(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    d = fake(_python_says_hello)
    (tmp_path / "conftest.c").write_text("int main(void) { return 0; }\n")
    p = subprocess.run([str(CLIENT), "gcc", "conftest.c", "-o", "conftest"], cwd=tmp_path,
                       env=_env(tmp_path / "store", GGCC_BUILD="b1"), capture_output=True, text=True)
    assert p.returncode == 0 and (tmp_path / "conftest").exists() and d.kinds == []
    assert "local configure-probe" in (tmp_path / "store" / "stats.log").read_text()


def test_an_unknown_compiler_is_named(tmp_path: Path) -> None:
    p = subprocess.run([str(CLIENT), "no-such-gcc", "-c", "a.c"], cwd=tmp_path, env=_env(tmp_path / "store"),
                       capture_output=True, text=True)
    assert p.returncode == 127 and "no-such-gcc: not found on PATH" in p.stderr


def test_subcommands_go_to_python(tmp_path: Path) -> None:
    p = subprocess.run([str(CLIENT), "version"], env=_env(tmp_path / "store"), capture_output=True, text=True)
    assert p.returncode == 0 and re.search(r"\d+\.\d+", p.stdout), p


def test_a_long_ggcc_dir_reaches_its_daemon(tmp_path: Path) -> None:
    store = tmp_path / ("d" * 60) / ("e" * 60) / "store"
    (tmp_path / "a.c").write_text(SOURCE)
    env = _env(store)
    for out in ("a.o", "b.o"):
        subprocess.run([str(CLIENT), "gcc", "-c", "a.c", "-o", out], cwd=tmp_path, env=env, check=True)
    assert "native client 1 compiles" in _status(store)


def test_masquerade_names_find_the_real_compiler(tmp_path: Path) -> None:
    """ggcc infer's names: a link named gcc, first on PATH, is ggcc; the
    compiler is the gcc after it."""
    masq = tmp_path / "masq"
    masq.mkdir()
    (masq / "gcc").symlink_to(CLIENT)
    store = tmp_path / "store"
    (tmp_path / "a.c").write_text(SOURCE)
    env = _env(store, GGCC_MASQUERADE=str(masq))
    env["PATH"] = f"{masq}:{env['PATH']}"
    for out in ("a.o", "b.o"):
        subprocess.run(["gcc", "-c", "a.c", "-o", out], cwd=tmp_path, env=env, check=True, timeout=60)
    assert "native client 1 compiles" in _status(store)


@pytest.mark.parametrize("name", ["ggcc-client", "ggcc"])
def test_a_client_without_its_python_launcher_still_compiles(tmp_path: Path, name: str) -> None:
    """Named ggcc (as setup.py installs it), the client never takes itself
    for the Python ggcc it hands over to."""
    lone = tmp_path / "bin" / name
    lone.parent.mkdir()
    lone.write_bytes(CLIENT.read_bytes())
    lone.chmod(0o755)
    p = _compile(tmp_path, "-o", "a.o", client=lone)  # no daemon: the client would hand over, to nothing
    assert p.returncode == 0 and (tmp_path / "a.o").exists()
    assert "reinstall ggcc" in p.stderr


def test_a_waiting_client_is_small(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    """-j1000 on a laptop: a thousand clients wait on the daemon at once."""
    release = threading.Event()

    def slow(fields: list[bytes]) -> list[bytes]:
        release.wait(30)
        return [b"done", b"0", b"", b""]

    fake(slow)
    (tmp_path / "a.c").write_text(SOURCE)
    proc = subprocess.Popen([str(CLIENT), "gcc", "-c", "a.c"], cwd=tmp_path, env=_env(tmp_path / "store"))
    try:
        rss_kb = 0
        for _ in range(200):
            time.sleep(0.02)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            m = re.search(r"VmRSS:\s+(\d+) kB", status)
            if m and "State:\tS" in status:
                rss_kb = int(m.group(1))
                break
        assert 0 < rss_kb <= 2048, rss_kb
    finally:
        release.set()
        assert proc.wait(30) == 0
