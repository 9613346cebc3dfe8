"""The daemon's wire format (client/wire.py), over real sockets."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from ggcc.client import wire


@pytest.mark.parametrize("fields", [[], [b""], [b"compile", b"", b"\x00\xff" * 3, b"x" * 70_000]])
def test_fields_come_back_as_sent(fields: list[bytes]) -> None:
    data = wire.encode(fields)
    assert int.from_bytes(data[:4], "little") == len(data) - 4
    assert wire.decode(data[4:]) == fields
    a, b = socket.socketpair()
    with a, b:
        threading.Thread(target=a.sendall, args=(data,)).start()
        assert wire.read(b) == fields


def test_a_truncated_or_oversized_message_is_refused() -> None:
    body = wire.encode([b"abc", b"defg"])[4:]
    with pytest.raises(ValueError):
        wire.decode(body[:-1])
    a, b = socket.socketpair()
    with a, b:
        a.sendall((wire.MAX_MESSAGE + 1).to_bytes(4, "little"))
        with pytest.raises(ValueError):
            wire.read(b)


def test_a_peer_that_closes_mid_message_gives_none() -> None:
    a, b = socket.socketpair()
    with b:
        a.sendall(wire.encode([b"status", b"x" * 100])[:20])
        a.close()
        assert wire.read(b) is None


def test_a_socket_path_too_long_for_sun_path_still_connects(tmp_path: Path) -> None:
    d = tmp_path / ("d" * 60) / ("e" * 60)
    d.mkdir(parents=True)
    path = wire.socket_path(str(d))
    assert len(path) > 108
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with wire.short_path(path) as p:
        assert len(p) <= 108
        server.bind(p)
    server.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with server, client:
        with wire.short_path(path) as p:
            client.connect(p)
        conn, _ = server.accept()
        with conn:
            client.sendall(wire.encode([b"ping"]))
            assert wire.read(conn) == [b"ping"]
    assert os.path.exists(path)


def test_the_view_names_this_process_root_and_cwd(tmp_path: Path) -> None:
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        ns, root, cwd = wire.view().split(b" ")
    finally:
        os.chdir(here)
    st = os.stat(tmp_path)
    assert cwd == b"%d:%d" % (st.st_dev, st.st_ino)
    assert root == b"%d:%d" % (os.stat("/").st_dev, os.stat("/").st_ino)
    assert ns == os.readlink("/proc/self/ns/mnt").encode()
