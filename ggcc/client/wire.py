"""The daemon's wire format and where its socket lives.

A message is a 4-byte little-endian length, then fields, each a 4-byte
length and its bytes. Requests: ``compile compiler cwd umask columns view
sinks argc argv... env...`` (env as K=V; view: view() below,
sinks: client/launch.py), ``make-real session path reader`` (the placeholder guard),
``infer-status``, ``infer-wait``, ``infer-end``, ``status``, ``stop``. Replies: ``done code
stdout stderr``, ``local reason`` (run the real compiler: the reason is
counted), ``status text``, ``stopping``, ``error text``.

Only modules built into the interpreter are imported here: the client pays
for every import (``os`` only for a socket path too long for sun_path).
"""

import posix
import sys

TYPE_CHECKING = False  # typing itself costs the client 3 ms
if TYPE_CHECKING:
    from typing import Any

MAX_MESSAGE = 1 << 30
# ggcc-client (client/native.c) sends ``compile-native NATIVE_WIRE`` and
# then a compile's fields; a daemon that answers another version an error
# gets the compile from the Python launcher instead. Change both together.
NATIVE_WIRE = b"1"
STARTED_FILE = "daemon.started"  # made by a daemon the moment it holds its lock
# sun_path holds 108 bytes; longer socket paths go through /proc/self/fd.
_SUN_PATH_MAX = 100


def encode(fields: list[bytes]) -> bytes:
    body = b"".join(len(f).to_bytes(4, "little") + f for f in fields)
    return len(body).to_bytes(4, "little") + body


def decode(body: bytes) -> list[bytes]:
    fields = []
    i = 0
    while i < len(body):
        n = int.from_bytes(body[i:i + 4], "little")
        fields.append(body[i + 4:i + 4 + n])
        i += 4 + n
    if i != len(body):
        raise ValueError("truncated field")
    return fields


def read(sock: "Any") -> list[bytes] | None:
    """One message from a socket, or None if the peer closed before it ended."""
    head = _read_exact(sock, 4)
    if head is None:
        return None
    n = int.from_bytes(head, "little")
    if n > MAX_MESSAGE:
        raise ValueError("message too large")
    body = _read_exact(sock, n)
    return None if body is None else decode(body)


def _read_exact(sock: "Any", n: int) -> bytes | None:
    chunks = []
    while n:
        b = sock.recv(min(n, 1 << 20))
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def socket_path(root: str) -> str:
    return root.rstrip("/") + "/daemon.sock"  # os.path.join, without importing os


class short_path:
    """``with short_path(p) as q``: q names p and fits in sun_path (through
    an open descriptor of p's directory when p is too long)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> str:
        if len(self.path.encode(sys.getfilesystemencoding(), "surrogateescape")) <= _SUN_PATH_MAX:
            return self.path
        import os

        self.fd = os.open(os.path.dirname(self.path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self.fd}/{os.path.basename(self.path)}"

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            import os

            os.close(self.fd)


def view() -> bytes:
    """What this process sees of the file system: its mount namespace, and
    the identity of its root and working directory. A launcher in a
    container or a bwrap sharing GGCC_DIR may see other files at the
    daemon's paths; the daemon compares (see daemon/server.py)."""
    try:
        ns = posix.readlink(b"/proc/self/ns/mnt")
    except OSError:
        ns = b"?"
    ids = []
    for p in (b"/", b"."):
        try:
            st = posix.stat(p)
            ids.append(b"%d:%d" % (st.st_dev, st.st_ino))
        except OSError:
            ids.append(b"?")
    return b" ".join([ns, *ids])
