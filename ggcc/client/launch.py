"""The launcher's client: hand one compile to the daemon, or run the compiler.

This module runs once per compile, hundreds at a time under ``ninja -j500``,
so its hot path imports nothing but modules built into the interpreter
(posix, sys, _socket): not even ``os``, whose import (with
collections.abc) costs ~2.5 ms when bin/ggcc starts Python without site.
It works on the environment as bytes, as the kernel gives it and the daemon
receives it. A cache hit costs Python's start-up, one connect, one request
and one reply. Everything else (hashing, scanning, the store, the engine)
lives in the daemon (ggcc/daemon/server.py); the functions the CLI uses to start
and ask the daemon import ``os`` themselves.

If the daemon cannot be reached or started, or dies while answering, the
real compiler runs here and the reason is counted: ggcc never breaks a
build. GGCC_DAEMON=0 does the daemon's work in this process instead.
"""

import posix
import sys

from ggcc.client import probe, wire

TYPE_CHECKING = False  # not `from typing`: 3 ms on every compile
if TYPE_CHECKING:
    from collections.abc import Mapping

    import _socket

START_TIMEOUT_S = 20.0
START_BACKOFF_S = 30.0  # after a failed start, launchers go local at once for this long
_FS = sys.getfilesystemencoding()
_S_IFMT, _S_IFREG, _S_IFCHR = 0o170000, 0o100000, 0o020000
_DEV_NULL = (1 << 8) | 3  # makedev(1, 3): /dev/null


def main(argv: list[str]) -> int:
    """argv: the compiler as the user named it, then its arguments."""
    env = launch_env()
    compiler = find_compiler(argv[0], env)
    if compiler is None:
        sys.stderr.write(f"ggcc: {argv[0]}: not found on PATH; name an installed compiler\n")
        return 127
    if env.get(b"GGCC_DISABLE") == b"1":
        return exec_local(compiler, argv, env)
    root = state_dir(env)
    bargv = [fsencode(a) for a in argv]
    cwd = posix.getcwdb()
    if probe.is_probe(bargv, cwd) or probe.run_by_configure(_parent_cmdline()):  # nothing to gain (see probe.py)
        _count(root, env, b"invocation\nlocal configure-probe\n")
        return exec_local(compiler, argv, env)
    if env.get(b"GGCC_DAEMON") == b"0":
        from ggcc.client.in_process import in_process

        try:
            code = in_process(fsdecode(compiler), argv, str_env(env), root, stderr_columns(), sinks(env).decode())
        except Exception as e:  # an unusable GGCC_DIR, or a bug: never the build's problem
            say_off(root, f"GGCC_DIR={root} cannot be used ({_why(e)}): set GGCC_DIR to a writable directory")
            code = None
        return exec_local(compiler, argv, env) if code is None else code
    mask = posix.umask(0)
    posix.umask(mask)
    fields = [b"compile", compiler, cwd, b"%o" % mask, stderr_columns().encode(), wire.view(), sinks(env),
              b"%d" % len(argv)]
    fields += bargv
    fields += [k + b"=" + v for k, v in env.items()]
    try:
        reply = ask(root, fields, env)
    except Exception as e:  # GGCC_DIR under a file, read-only, full: compile as without ggcc, and say so
        say_off(root, f"GGCC_DIR={root} cannot be used ({_why(e)}): set GGCC_DIR to a writable directory")
        return exec_local(compiler, argv, env)
    if reply and reply[0] == b"done" and len(reply) == 4:
        _write_all(1, reply[2])
        _write_all(2, reply[3])
        # Nothing is buffered and nothing needs finalizing: skip the
        # interpreter's tear-down (a millisecond or more per compile).
        posix._exit(int(reply[1]))
    if not reply or reply[0] != b"local":  # the daemon counted its own reasons
        from ggcc.base import stats

        b = fsdecode(env.get(b"GGCC_BUILD", b""))
        stats.build.set(b if b.isalnum() else "")
        stats.record(root, stats.Event.INVOCATION, (stats.Event.LOCAL, "daemon-unavailable"))
        say_off(root, f"the daemon for {root} did not start or answer (see {root}/daemon.log)")
    elif len(reply) > 2 and reply[2]:
        _write_all(2, reply[2])  # a wrong setting, said once per build
    return exec_local(compiler, argv, env)


def _parent_cmdline() -> bytes:
    try:
        fd = posix.open(b"/proc/%d/cmdline" % posix.getppid(), posix.O_RDONLY)
    except OSError:
        return b""
    try:
        return posix.read(fd, 4096)
    except OSError:
        return b""
    finally:
        posix.close(fd)


def _count(root: str, env: "Mapping[bytes, bytes]", events: bytes) -> None:
    """stats.record without its imports, for a step that never reaches
    the daemon: appended to the store's log and the build's."""
    try:
        posix.mkdir(fsencode(root), 0o700)  # a first configure on a new machine is counted too
    except OSError:
        pass  # there already, or not to be made: then nothing is counted
    logs = [fsencode(root) + b"/stats.log"]
    build = env.get(b"GGCC_BUILD", b"")
    if build.isalnum():
        logs.append(fsencode(root) + b"/builds/" + build + b".log")
    for path in logs:
        try:
            fd = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT, 0o644)
        except OSError:
            continue  # no store yet, or an unusable one: counting never breaks a build
        try:
            posix.write(fd, events)
        except OSError:
            pass
        finally:
            posix.close(fd)


def sinks(env: "Mapping[bytes, bytes] | None" = None) -> bytes:
    """Where this process's stdout and stderr go, a letter each: t a
    terminal, n /dev/null, f a regular file, p anything else (a pipe, or
    a file `ggcc infer`'s own stdout or stderr goes to). In deferred mode a
    compile's warnings come in that report, after the build: only if they
    would have been seen (t, p); dropped (n); or the compile is not
    deferred (f: its messages go into that file now)."""
    out = b""
    report = env.get(b"GGCC_INFER_REPORT", b"").split() if env is not None else []
    for fd in (1, 2):
        try:
            st = posix.fstat(fd)
        except OSError:
            out += b"n"  # closed: nothing printed there is seen
            continue
        kind = st.st_mode & _S_IFMT
        if kind == _S_IFREG:
            out += b"p" if b"%d:%d" % (st.st_dev, st.st_ino) in report else b"f"
        elif kind == _S_IFCHR and st.st_rdev == _DEV_NULL:
            out += b"n"
        elif kind == _S_IFCHR and posix.isatty(fd):
            out += b"t"
        else:
            out += b"p"
    return out


def say_off(root: str, why: str) -> None:
    """ggcc is off for this compile: say why on stderr, once per build."""
    try:
        from ggcc.base import notice

        if not notice.first_in_build(root, why):
            return
    except Exception:
        pass  # said, then
    sys.stderr.write(f"ggcc: {why}; compiling without ggcc meanwhile\n")


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f"{type(e).__name__}: {e}"


def fsencode(s: str) -> bytes:
    return s.encode(_FS, "surrogateescape")  # what os.fsencode does on POSIX


def fsdecode(b: bytes) -> str:
    return b.decode(_FS, "surrogateescape")


def str_env(env: "Mapping[bytes, bytes]") -> dict[str, str]:
    return {fsdecode(k): fsdecode(v) for k, v in env.items()}


def launch_env() -> dict[bytes, bytes]:
    """The environment the compiler would have had without ggcc in between.

    Python coerces the C locale (PEP 538) by exporting LC_CTYPE=C.UTF-8,
    which would turn gcc's ASCII quotes into UTF-8 ones: undo that.
    """
    env = dict(posix.environ)
    if (
        env.get(b"LC_CTYPE") == b"C.UTF-8"
        and not env.get(b"LC_ALL")
        and env.get(b"LANG", b"C") in (b"", b"C", b"POSIX")
    ):
        del env[b"LC_CTYPE"]
    if b"GGCC_CONFIG_SET" not in env:  # else merged by the ggcc command this build runs under
        merge_config(env)
    masquerade = env.get(b"GGCC_MASQUERADE")
    if masquerade and b"PATH" in env:
        # gcc finds its own directory through PATH when argv[0] has no
        # slash: it must not find ggcc infer's name for it.
        env[b"PATH"] = b":".join(d for d in env[b"PATH"].split(b":") if d != masquerade)
    return env


def merge_config(env: "dict[bytes, bytes]") -> None:
    """The config file's settings into ``env`` (config_file.merge); with no
    file, one failed access and nothing imported."""
    given = env.get(b"GGCC_CONFIG")
    if not given:
        base = env.get(b"XDG_CONFIG_HOME") or env.get(b"HOME", b"") + b"/.config"
        if not posix.access(base + b"/ggcc/config.toml", posix.F_OK):
            env[b"GGCC_CONFIG_SET"] = b""
            return
    from ggcc.base import config_file

    wanted = (b"GGCC_CONFIG", b"XDG_CONFIG_HOME", b"HOME")
    view = {k.decode(_FS, "surrogateescape"): v.decode(_FS, "surrogateescape")
            for k, v in env.items() if k in wanted or k.startswith(b"GGCC_")}
    before = set(view)
    config_file.merge(view)
    for k in set(view) - before:
        env[k.encode(_FS, "surrogateescape")] = view[k].encode(_FS, "surrogateescape")


def compiler_env() -> dict[str, str]:
    """launch_env() as str, for the CLI's commands."""
    return str_env(launch_env())


def state_dir(env: dict[bytes, bytes]) -> str:
    """config.ggcc_dir without importing os when the path needs no
    normalizing (the usual case); config's answer otherwise."""
    d = env.get(b"GGCC_DIR")
    if d:
        if _normal_abs(d):
            return fsdecode(d)
    else:
        cache = env.get(b"XDG_CACHE_HOME") or (env[b"HOME"] + b"/.cache" if env.get(b"HOME") else b"")
        if _normal_abs(cache):
            return fsdecode(cache) + "/ggcc"
    from ggcc.base.config import ggcc_dir

    return ggcc_dir(str_env(env))


def _normal_abs(p: bytes) -> bool:
    """Whether os.path.abspath(p) == p."""
    return (p.startswith(b"/") and not p.endswith((b"/", b"/.", b"/..")) and b"//" not in p
            and b"/./" not in p and b"/../" not in p)


def find_compiler(name: str, env: dict[bytes, bytes]) -> bytes | None:
    """The compiler's path: as given if it has a '/', else the first on PATH
    that is not ggcc itself (ggcc may be installed as a masquerade link)."""
    n = fsencode(name)
    if b"/" in n:
        return n if _executable_file(n) is not None else None
    me = _executable_file(fsencode(sys.argv[0])) if sys.argv and sys.argv[0] else None
    for d in env.get(b"PATH", b"/bin:/usr/bin").split(b":"):  # ggcc infer's names are not on it: launch_env
        p = d + n if d.endswith(b"/") else (d or b".") + b"/" + n
        found = _executable_file(p)
        if found is not None and found != me:
            return p
    return None


def _executable_file(p: bytes) -> tuple[int, int] | None:
    """(device, inode) of the regular file p names (through symlinks), if
    we may execute it."""
    try:
        st = posix.stat(p)
    except (OSError, ValueError):
        return None
    if st.st_mode & _S_IFMT != _S_IFREG or not posix.access(p, posix.X_OK):
        return None
    return st.st_dev, st.st_ino


def ask(root: str, fields: list[bytes], env: "Mapping[bytes, bytes] | None" = None) -> list[bytes] | None:
    """Send one request and wait for the reply, starting the daemon (with
    ``env``, the launcher's) if need be; None if no daemon could answer
    (not running and not startable, or it died twice while answering)."""
    payload = wire.encode(fields)
    for _ in range(3):
        sock = connect(root)
        if sock is None:
            if env is None or not start(root, str_env(env)):
                return None
            continue
        try:
            sock.sendall(payload)
            reply = wire.read(sock)
        except OSError:
            reply = None
        finally:
            sock.close()
        if reply is not None:
            return reply
    return None


def connect(root: str) -> "_socket.socket | None":
    """A connected socket to the daemon of ``root``, or None."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        with wire.short_path(wire.socket_path(root)) as p:
            s.connect(p)
        return s
    except OSError:
        s.close()
        return None


def start(root: str, env: dict[str, str], retry_now: bool = False) -> bool:
    """Start the daemon unless one is running or starting; wait until it
    answers. Launchers starting at once queue on a lock, and the first one
    in starts the only daemon.

    A daemon that cannot start (a socket path it cannot bind, a broken
    install) must not cost every compile the whole wait, one after the
    other on the lock: the failure is remembered for START_BACKOFF_S, and
    launchers meanwhile give up at once (the real compiler runs, counted).
    A daemon that took the lock and died is given up on at once, not
    waited for. ``retry_now`` (an explicit `ggcc daemon start`) ignores a
    remembered failure."""
    import fcntl
    import os
    import time

    os.makedirs(root, mode=0o700, exist_ok=True)
    failed_marker = os.path.join(root, "daemon.start-failed")
    started = os.path.join(root, wire.STARTED_FILE)
    fd = os.open(os.path.join(root, "daemon.start.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        s = connect(root)
        if s is not None:
            s.close()
            return True
        if not retry_now:
            try:
                if time.time() - os.stat(failed_marker).st_mtime < START_BACKOFF_S:
                    return False
            except FileNotFoundError:
                pass
        deadline = time.monotonic() + START_TIMEOUT_S
        spawned_at: float | None = None
        while time.monotonic() < deadline:
            s = connect(root)
            if s is not None:
                s.close()
                try:
                    os.unlink(failed_marker)
                except FileNotFoundError:
                    pass
                return True
            if not daemon_alive(root):
                if spawned_at is not None and os.path.exists(started):
                    break  # ours took the lock, then died without listening: see daemon.log
                if spawned_at is None or time.monotonic() - spawned_at > 5.0:
                    try:
                        os.unlink(started)  # the daemon makes it again once it holds its lock
                    except OSError:
                        pass
                    spawn(root, env)
                    spawned_at = time.monotonic()
            time.sleep(0.005)
        try:
            with open(failed_marker, "wb"):
                pass  # (its mtime is the time of the failure)
        except OSError:
            pass
        return False
    finally:
        os.close(fd)


def daemon_alive(root: str) -> bool:
    """Whether some process holds the daemon's lifetime lock."""
    import fcntl
    import os

    try:
        fd = os.open(os.path.join(root, "daemon.lock"), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


def spawn(root: str, env: dict[str, str]) -> None:
    """Start ``python -m ggcc daemon run`` detached: its own session, cwd /,
    stdio to daemon.log, and none of the build tool's descriptors (a daemon
    holding ninja's output pipe would make ninja wait for it forever)."""
    import os

    from ggcc.preload import without_guard

    pkg_parent = package_parent()
    child_env = without_guard(dict(env))  # the daemon never waits on itself for a placeholder
    child_env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    child_env["GGCC_DIR"] = root
    argv = [sys.executable, "-m", "ggcc", "daemon", "run"]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            log = os.open(os.path.join(root, "daemon.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.closerange(3, 1 << 20)
            os.chdir("/")
            os.execve(sys.executable, argv, child_env)
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def package_parent() -> str:
    """The directory ggcc's package is in: what a Python started without
    site or PYTHONPATH (the daemon, infer's masquerade names) puts on its
    path to import this ggcc."""
    import os

    import ggcc

    return os.path.dirname(os.path.dirname(os.path.abspath(ggcc.__file__)))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = posix.write(fd, view)
        view = view[n:]


def stderr_columns() -> str:
    """The terminal's width if stderr is a terminal, else "" (a pipe)."""
    if posix.isatty(2):
        try:
            return str(posix.get_terminal_size(2).columns)
        except OSError:
            pass
    return ""


def exec_local(compiler: str | bytes, argv: list[str], env: "Mapping[bytes, bytes] | Mapping[str, str]") -> int:
    """Replace this process with the real compiler: its output is the answer."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        posix.execve(compiler, argv, env)
    except OSError as e:
        sys.stderr.write(f"ggcc: {argv[0]}: {e.strerror}\n")
        return 126
    return 127  # not reached
