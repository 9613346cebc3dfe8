"""``ggcc infer <build command>``: run a build in deferred mode (see
launcher/deferred.py), then wait until every placeholder it made is real.

The build runs with the placeholder guard preloaded (ggcc/preload), -j as
`ggcc make` picks it for make and ninja, and ggcc's masquerade names first
on PATH.

Exit status: the build command's if it failed, else 1 if a deferred step
failed or a placeholder was read by a program the guard could not hold (or
sits inside an archive), else 0. Messages the deferred steps printed
(warnings) and failures are printed after the build, each under the output
it belongs to.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading

from ggcc.base.config import ggcc_dir
from ggcc.base.errors import GgccError
from ggcc.client import launch, native
from ggcc.formats import placeholder
from ggcc.launcher.deferred import SESSION_ENV, session_paths_file


def _own_files() -> str:
    """The files this process's stdout and stderr go to, as device:inode.
    A step whose messages go to one of them (`ggcc infer make > build.log
    2>&1`, a CI log) has them in this report at the end, as it would have
    had them in that log: it can be deferred. A step whose messages go to
    any other file cannot (see launch.sinks)."""
    own = []
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        own.append(f"{st.st_dev}:{st.st_ino}")
    return " ".join(own)


def main(command: list[str]) -> int:
    if not command:
        raise GgccError("infer needs a build command, e.g. `ggcc infer make -j64` or `ggcc infer ninja`")
    root = ggcc_dir()
    env = launch.compiler_env()
    if not launch.start(root, env, retry_now=True):
        raise GgccError(f"the daemon for {root} did not start; see {os.path.join(root, 'daemon.log')}")
    sid = secrets.token_hex(8)
    masq = masquerade_dir(root)
    build_env = dict(os.environ, **{SESSION_ENV: sid, MASQUERADE_ENV: masq})
    build_env["PATH"] = masq + os.pathsep + build_env.get("PATH", os.defpath)
    build_env = _guarded(root, build_env)
    build_env["GGCC_INFER_REPORT"] = _own_files()
    command = with_jobs(command, build_env)
    sys.stderr.write(f"ggcc infer: running {shlex.join(command)}\n")
    try:
        build = subprocess.run(command, env=build_env)
        build_rc = build.returncode
    except FileNotFoundError:
        raise GgccError(f"{command[0]}: command not found") from None
    except KeyboardInterrupt:
        return _interrupted(root, sid)
    if build_rc == 130 or build_rc == -signal.SIGINT:
        return _interrupted(root, sid)
    # Placeholders still pending when a build failed may be what it tripped on.
    pending_at_failure = sorted(set(_leftovers(root, sid)) | set(_placeholders_under(os.getcwd()))) if build_rc else []
    report = _wait(root, sid)
    moved = _placeholders_under(os.getcwd())
    if report is None or moved:
        # The daemon went away, or the build moved placeholders (`mv x.o
        # x.lo`) where the daemon cannot follow them and nothing consumed them.
        failures = _force_leftovers(root, sid, moved)
    else:
        failures = 0
    events: list[tuple[str, str]] = []
    if report is None:
        status = "the daemon went away; ggcc forced the remaining placeholders itself"
        entries: list[tuple[str, int, bytes]] = []
    else:
        status, events, entries = report
        failures += sum(1 for _, code, _ in entries if code != 0)
    for path, code, messages in entries:
        head = f"ggcc infer: {os.path.relpath(path)}" + (f": failed (exit {code})" if code else "")
        sys.stderr.write(head + "\n")
        sys.stderr.buffer.write(messages)
        sys.stderr.flush()
    sys.stderr.write(f"ggcc infer: {status}\n")
    guarded = [detail for kind, detail in events if kind == "guarded"]
    if guarded:
        sys.stderr.write("ggcc infer: programs that read placeholders waited for the real outputs: "
                         + ", ".join(f"{os.path.basename(r.partition(' ')[2])} ({r.partition(' ')[0]})"
                                     for r in guarded) + "\n")
    archives = _artifacts_with_placeholders(os.getcwd())
    read_early = sorted({p for kind, p in events if kind == "read-early"})
    if archives or read_early:
        # Never exit 0 with a placeholder inside a finished artifact.
        for p in read_early:
            sys.stderr.write(f"ggcc infer: {os.path.relpath(p)}: read by a program while it was still a placeholder "
                             "(one the guard cannot stop: a static program, an archiver outside ggcc)\n")
        for p in archives:
            sys.stderr.write(f"ggcc infer: {os.path.relpath(p)}: an archive with a placeholder for a member (made by "
                             "an archiver outside ggcc while an object was still compiling)\n")
        sys.stderr.write("ggcc infer: what was built from those may be wrong: remove it and build again in wait "
                         "mode (`ggcc make`, `ggcc ninja`), or make that step run after the objects are real\n")
        return build_rc or 1
    if build_rc != 0:
        if pending_at_failure:
            sys.stderr.write(
                f"ggcc infer: the build failed while {len(pending_at_failure)} outputs were still placeholders, e.g. "
                f"{os.path.relpath(pending_at_failure[0])}; a step that reads objects or archives without ggcc "
                "must run after they are real: re-run the build, or `ggcc force` them first\n")
        return build_rc
    return 1 if failures else 0


def with_jobs(command: list[str], env: dict[str, str]) -> list[str]:
    """make or ninja with the -j `ggcc make` would choose, unless given one."""
    from ggcc.commands.ninja import has_jobs_flag, jobs_for

    tool = os.path.basename(command[0])
    if tool in ("make", "gmake", "ninja") and not has_jobs_flag(command[1:]):
        return [command[0], f"-j{jobs_for(env)}", *command[1:]]
    return command


def _guarded(root: str, env: dict[str, str]) -> dict[str, str]:
    """The build's environment with the placeholder guard preloaded (see
    ggcc/preload), or without it, said once, if it cannot be had."""
    from ggcc import preload
    from ggcc.client.wire import socket_path

    sock = socket_path(root)
    try:
        if len(os.fsencode(sock)) >= 108:
            raise GgccError(f"the daemon's socket path is longer than the guard can reach ({sock})")
        # Built with the user's compiler as the user's PATH finds it (not infer's masquerade names).
        return preload.with_guard(env, preload.library(root, dict(os.environ)), sock)
    except GgccError as e:
        sys.stderr.write(f"ggcc infer: {e.message}; programs outside ggcc that read objects early are only "
                         "detected, at the end\n")
        return env


def _artifacts_with_placeholders(top: str) -> list[str]:
    """Archives under ``top`` with a placeholder among their members."""
    found = []
    for d, subdirs, files in os.walk(top):
        subdirs[:] = [s for s in subdirs if s not in (".git", ".ggcc")]
        for name in files:
            if name.endswith((".a", ".lib")):
                p = os.path.join(d, name)
                if _archive_holds_placeholder(p):
                    found.append(p)
    return found


def _archive_holds_placeholder(path: str) -> bool:
    """Whether any member of the ar archive at ``path`` is a placeholder."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"!<arch>\n":
                return False
            while True:
                header = f.read(60)
                if len(header) < 60:
                    return False
                size = int(header[48:58].decode("ascii", "replace").strip() or 0)
                data = f.read(min(size, len(placeholder.MAGIC)))
                if data == placeholder.MAGIC:
                    return True
                f.seek(size - len(data) + (size & 1), os.SEEK_CUR)
    except (OSError, ValueError):
        return False


MASQUERADE_ENV = "GGCC_MASQUERADE"
MASQUERADED: tuple[str, ...] = ("cc", "gcc", "g++", "c++", "clang", "clang++", "ar", "ranlib",
               "x86_64-linux-gnu-gcc", "x86_64-linux-gnu-g++", "x86_64-linux-gnu-ar", "x86_64-linux-gnu-ranlib")
for _v in ("12", "13", "14", "15"):
    MASQUERADED += (f"gcc-{_v}", f"g++-{_v}", f"x86_64-linux-gnu-gcc-{_v}", f"x86_64-linux-gnu-g++-{_v}")


def masquerade_dir(root: str) -> str:
    """A directory of compiler names that run ggcc, put first on the build's
    PATH: a step that names the compiler itself (zlib's LDSHARED="gcc
    -shared") still goes through ggcc, so it waits for the placeholders it
    reads instead of failing on them. The real tools are found after it."""
    d = os.path.join(root, "masquerade")
    # Python without site, like bin/ggcc (see there): the launcher's hot
    # path needs only ggcc itself, whose directory is known here.
    script = (f"#!{sys.executable} -IS\n# ggcc infer: this name runs the compiler through ggcc\n"
              f"import sys\nsys.path.insert(0, {launch.package_parent()!r})\nfrom ggcc.main import main\n"
              "sys.exit(main([sys.argv[0].rpartition('/')[2], *sys.argv[1:]]))\n").encode()
    os.makedirs(d, exist_ok=True)
    from ggcc.base.fsutil import atomic_write_bytes

    client = native.find()  # the native client, where built, takes these names itself: no Python per compile
    for name in MASQUERADED:
        p = os.path.join(d, name)
        if client:
            if os.path.islink(p) and os.readlink(p) == client:
                continue
            tmp = f"{p}.{os.getpid()}.tmp"
            os.symlink(client, tmp)
            os.replace(tmp, p)
            continue
        try:
            if not os.path.islink(p):
                with open(p, "rb") as f:
                    if f.read() == script:
                        continue
        except FileNotFoundError:
            pass
        atomic_write_bytes(p, script, 0o755)
    return d


def _wait(root: str, sid: str) -> tuple[str, list[tuple[str, str]], list[tuple[str, int, bytes]]] | None:
    """The session's report once it is done, showing progress meanwhile;
    None if the daemon cannot be asked."""
    stop = threading.Event()
    shown = _Shown()
    progress = threading.Thread(target=_show_progress, args=(root, sid, stop, shown), daemon=True)
    progress.start()
    try:
        reply = launch.ask(root, [b"infer-wait", sid.encode()])
    finally:
        stop.set()
        progress.join()
    if not reply or reply[0] != b"report" or len(reply) < 3:
        return None
    n = int(reply[2])
    events = [(reply[3 + 2 * k].decode(), os.fsdecode(reply[4 + 2 * k])) for k in range(n)]
    if not shown.live:
        for kind, path in events[shown.count:]:  # those that ended after the last poll
            if kind != "guarded":
                shown.line(kind, path, 0)
    entries = []
    rest = reply[3 + 2 * n:]
    for k in range(0, len(rest) - 2, 3):
        entries.append((os.fsdecode(rest[k]), int(rest[k + 1]), rest[k + 2]))
    return _describe(reply[1].decode()), events, entries


def _describe(status: str) -> str:
    counts = _counts(status)
    return (f"{counts.get('finished', '0')} deferred outputs: {counts.get('hits', '0')} cache hits, "
            f"{counts.get('local', '0')} run locally, {counts.get('failures', '0')} failed")


def _counts(status: str) -> dict[str, str]:
    words = status.split()
    return dict(zip(words[::2], words[1::2]))


class _Shown:
    """What the progress display has shown: a line per output that ended
    (off a terminal), or a live panel (on one)."""

    def __init__(self) -> None:
        self.count = 0
        self.live = sys.stderr.isatty()

    def line(self, kind: str, path: str, pending: int) -> None:
        self.count += 1
        sys.stderr.write(f"ggcc infer: [{self.count}/{self.count + pending}] {kind} {os.path.relpath(path)}\n")
        sys.stderr.flush()


def _show_progress(root: str, sid: str, stop: threading.Event, shown: _Shown) -> None:
    """While outputs are still coming: a rich live panel on a terminal
    (done, in flight, hits, run here, failed, bytes written), one line per
    output that ended otherwise (for logs and CI)."""
    live = _LivePanel() if shown.live else None
    try:
        while not stop.wait(0.25):
            # Off a terminal, also the outputs that ended since those shown.
            ask = [b"infer-status", sid.encode()] + ([] if live else [b"%d" % shown.count])
            reply = launch.ask(root, ask)
            if not reply or reply[0] != b"status":
                return
            counts = _counts(reply[1].decode())
            if live is not None:
                live.update(counts)
                continue
            for k in range(2, len(reply) - 1, 2):
                shown.line(reply[k].decode(), os.fsdecode(reply[k + 1]), int(counts.get("pending", "0")))
    finally:
        if live is not None:
            live.close()


class _LivePanel:
    """rich's live progress bar; rich is imported only here, on a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("[bold]ggcc infer"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task("infer", total=None, detail="waiting for the daemon")
        self.progress.start()

    def update(self, counts: dict[str, str]) -> None:
        done, pending = int(counts.get("finished", "0")), int(counts.get("pending", "0"))
        detail = (f"{counts.get('running', '0')} in flight, {counts.get('hits', '0')} hits, "
                  f"{counts.get('local', '0')} run here, {counts.get('failures', '0')} failed, "
                  f"{int(counts.get('bytes', '0')) >> 10} KB written")
        self.progress.update(self.task, completed=done, total=done + pending, detail=detail)

    def close(self) -> None:
        self.progress.stop()


def _interrupted(root: str, sid: str) -> int:
    """Ctrl-C: stop now, and leave no placeholder behind (a later build
    would take one for an up-to-date output). Each one still pending is
    removed, so that the next build makes it; a real output that arrives
    later finds its placeholder gone and is not written."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave the count half done
    removed = 0
    for p in sorted(set(_leftovers(root, sid)) | set(_placeholders_under(os.getcwd()))):
        try:
            if placeholder.is_placeholder(p):
                os.unlink(p)
                removed += 1
        except OSError:
            pass
    launch.ask(root, [b"infer-end", sid.encode()])
    try:
        os.unlink(session_paths_file(root, sid))
    except FileNotFoundError:
        pass
    sys.stderr.write(f"ggcc infer: interrupted; removed the {removed} outputs that were still placeholders "
                     "(the next build makes them)\n")
    return 130


def _leftovers(root: str, sid: str) -> list[str]:
    try:
        with open(session_paths_file(root, sid), "rb") as f:
            paths = [os.fsdecode(line.rstrip(b"\n")) for line in f if line.strip()]
    except FileNotFoundError:
        return []
    return sorted({p for p in paths if placeholder.is_placeholder(p)})


def _placeholders_under(top: str) -> list[str]:
    """Placeholder files in the tree under ``top`` (a stat per file, a read
    of the small ones)."""
    found = []
    for d, subdirs, files in os.walk(top):
        subdirs[:] = [s for s in subdirs if s not in (".git", ".ggcc")]
        for name in files:
            p = os.path.join(d, name)
            try:
                if os.lstat(p).st_size <= placeholder.MAX_SIZE and placeholder.is_placeholder(p):
                    found.append(p)
            except OSError:
                pass
    return found


def _force_leftovers(root: str, sid: str, extra: list[str]) -> int:
    """Force, in this process, every placeholder the session left; remove
    those that cannot be forced (so the build tool rebuilds them)."""
    from ggcc.commands.thunks import force_targets

    paths = sorted(set(_leftovers(root, sid)) | set(extra))
    if paths:
        try:
            force_targets(paths, quiet=True)
        except (GgccError, OSError) as e:  # what is left unmade is removed below: the next build makes it
            sys.stderr.write(f"ggcc infer: forcing what the build left: {e}\n")
    failed = [p for p in paths if placeholder.is_placeholder(p)]
    for p in failed:
        os.unlink(p)
        sys.stderr.write(f"ggcc infer: {os.path.relpath(p)}: could not be built; removed so the next build redoes it\n")
    try:
        os.unlink(session_paths_file(root, sid))
    except FileNotFoundError:
        pass
    return len(failed)
