"""Test helpers: small real thunks around /bin/sh; stopping test daemons."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ggcc.formats.thunk import Input, Output, Thunk
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore


def sh_thunk(
    store: LocalStore,
    script: str,
    inputs: dict[str, bytes | str] | None = None,
    outputs: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_ms: int = 0,
) -> Thunk:
    """A thunk running `/bin/sh -c script`; str inputs are thunk references."""
    sh = Input(".ggcc/bin/sh", store.put_file("/bin/sh", HashCache(store.root).file_id("/bin/sh")), True)
    ins = []
    for path, content in (inputs or {}).items():
        ref = content if isinstance(content, str) else store.put_bytes(content)
        ins.append(Input(path, ref))
    outs = [Output(p, p) for p in (outputs or [])]
    t = Thunk.make(sh, ["sh", "-c", script], env or {}, ins, outs, timeout_ms=timeout_ms)
    store.put_thunk(t)
    return t


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def stop_daemons(under: Path) -> None:
    """SIGTERM every daemon whose directory is under ``under``; wait for each."""
    for pid_file in under.glob("**/daemon.pid"):
        try:
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue
        wait_gone(pid)


GGCC = [sys.executable, "-m", "ggcc"]


def ggcc_stats(store: Path) -> dict[str, Any]:
    """`ggcc stats --json` for the GGCC_DIR ``store``."""
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, check=True,
                       env=dict(os.environ, GGCC_DIR=str(store)))
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def synced(store: Path) -> None:
    """Wait until the daemon of ``store`` has filed what it ran (a miss run
    in place is filed after its answer: launcher/in_place.py)."""
    subprocess.run(GGCC + ["daemon", "sync"], capture_output=True, check=True, timeout=120,
                   env=dict(os.environ, GGCC_DIR=str(store)))


def cmake_launcher_flags() -> list[str]:
    """CMake cache settings that put ggcc before every C compile and link."""
    launcher = ";".join(GGCC)
    return [f"-DCMAKE_C_COMPILER_LAUNCHER={launcher}", f"-DCMAKE_C_LINKER_LAUNCHER={launcher}"]


def flip_in_place(path: str) -> None:
    """Two bytes in the middle changed, the size and the mtime kept (what
    bit rot or a stray write looks like from a stat)."""
    st = os.stat(path)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        two = f.read(2)
        f.seek(st.st_size // 2)
        f.write(bytes(b ^ 0xFF for b in two))
    os.chmod(path, 0o444)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def stop_and_unmount(mount: Path) -> None:
    """Stop the daemons of the store on ``mount``, then unmount it.

    A daemon the launcher started but stopped waiting for (a loaded machine)
    may write its pid file only after a first look: look again until the
    mount is free, for a while."""
    deadline = time.monotonic() + 15
    while True:
        stop_daemons(mount)  # its daemon keeps the store open
        p = subprocess.run(["umount", str(mount)], capture_output=True, text=True)
        if p.returncode == 0:
            return
        if time.monotonic() > deadline:
            who = subprocess.run(["fuser", "-vm", str(mount)], capture_output=True, text=True)
            raise AssertionError(f"{mount} still busy: {p.stderr.strip()}; {who.stderr.strip()} {who.stdout.strip()}")
        time.sleep(0.2)


@contextmanager
def unusable_ggcc_dir(tmp_path: Path, kind: str) -> Iterator[Path]:
    """A GGCC_DIR that cannot be used: "under a file", "read-only" (a
    read-only tmpfs) or "full" (a 64 KiB tmpfs). Mounting needs root."""
    if os.geteuid() != 0:
        raise AssertionError("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "m"
    mount.mkdir()
    if kind == "under a file":
        (mount / "file").write_text("")
        yield mount / "file" / "store"
        return
    opts = "size=64k" if kind == "full" else "size=1m,ro"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mount)], check=True)
    try:
        yield mount / "store"
    finally:
        stop_and_unmount(mount)
