"""The one thunk executor: materialise inputs, run the command, collect outputs.

Every engine (local, Lambda, remote workers) runs thunks through
``execute``; only where the store lives and how many run at once differ.

A run happens in a sandbox (``<store>/tmp/sbx-*/r``, the root) that holds
exactly the thunk's inputs (sandbox.py). Inputs are hard links to read-only
store files, so materialising a 30 MB compiler costs a link, not a copy; an
input whose path is also an output is copied instead, so a command that
edits it in place (ranlib) cannot damage the store. The command gets only the
thunk's environment, stdin from /dev/null, and its own process group, which
is killed whole on timeout and after exit (no stray children survive a
thunk). stdout and stderr go to files outside the root and are kept for
every run, successful or not.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Mapping
from typing import BinaryIO

from ggcc.base.errors import GgccError
from ggcc.execution.sandbox import Sandbox, SandboxPool, Wanted
from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.formats.thunk import (NEW_THUNKS_DIR, ROOT_TOKEN, Thunk, ThunkFormatError, kind_of_output, read_thunk_file,
                                substitute_root)
from ggcc.storage.local_store import CorruptBlob, LocalStore, MissingBlob
from ggcc.storage.store import Store

# A run's error starts so when an input blob was found damaged in the store
# (and removed): the step can run again, its inputs stored afresh.
CORRUPT_INPUT = "corrupt input"
# ... or missing from it (cleared, trimmed, removed by another process since
# the thunk was made): the same.
MISSING_INPUT_HERE = "input gone from the store"

# Stop reading a runaway command's stdout/stderr here; the rest is dropped
# with a note, so a looping program cannot fill the disk or the result cache.
MAX_LOG_BYTES = 64 << 20


def execute(
    thunk: Thunk,
    resolved: Mapping[str, str],
    store: Store,
    pool: SandboxPool | None = None,
    strict: bool = False,
) -> Result:
    """Run ``thunk`` once; ``resolved`` maps its thunk references to value ids.

    With a pool, the run reuses an idle sandbox (see sandbox.py); without
    one, it gets a fresh sandbox that is removed afterwards. Never raises for
    a problem with the thunk or its inputs: those come back as a failed
    Result whose ``error`` says what went wrong. Inputs and outputs live in
    the local store; a successful result goes through ``store`` (to the
    shared store too, if one stands behind it).
    """
    step = thunk.outputs[0].path if thunk.outputs else ""
    sb = pool.acquire(step) if pool is not None else Sandbox(store.local.tmp_dir())
    try:
        result = _execute_in(sb, thunk, resolved, store, strict)
    except BaseException:
        if pool is not None:
            pool.release_broken()
        sb.destroy()
        raise
    if pool is None:
        sb.destroy()
    else:
        pool.release(sb, step)
    return result


def _execute_in(sb: Sandbox, thunk: Thunk, resolved: Mapping[str, str], store: Store, strict: bool) -> Result:
    """Set up, run, collect the outputs, then clean the tree for its next
    run; the result is stored only if the run left its inputs intact."""
    tid = thunk.id
    t0 = time.perf_counter()
    try:
        files, dirs = wanted(thunk, resolved)
        sb.prepare(files, dirs, store.local)
    except CorruptBlob as e:
        sb.reset()
        return Result(tid, -1, error=f"{CORRUPT_INPUT}: {e.message}")
    except MissingBlob as e:
        sb.reset()
        return Result(tid, -1, error=f"{MISSING_INPUT_HERE}: {e.message}")
    except FileNotFoundError as e:
        sb.reset()
        if str(e.filename or "").startswith(store.root + os.sep):  # the store cleared while we placed it
            return Result(tid, -1, error=f"{MISSING_INPUT_HERE}: {_msg(e)}")
        return Result(tid, -1, error=f"cannot set up inputs: {_msg(e)}")
    except (GgccError, OSError) as e:
        sb.reset()
        return Result(tid, -1, error=f"cannot set up inputs: {_msg(e)}")
    t1 = time.perf_counter()
    exit_code, error, stdout, stderr = _run(thunk, sb, strict)
    t2 = time.perf_counter()
    timings = {"setup": (t1 - t0) * 1e3, "run": (t2 - t1) * 1e3}
    outputs: tuple[OutputValue, ...] = ()
    if exit_code == 0 and not error:
        try:
            outputs = _collect(thunk, sb.root, store.local)
        except (GgccError, OSError) as e:
            error = _msg(e)
    t3 = time.perf_counter()
    timings["collect"] = (t3 - t2) * 1e3
    damaged = sb.clean()
    timings["clean"] = (time.perf_counter() - t3) * 1e3
    if damaged:
        # The input is a hard link: the store's copy changed with it.
        for _, vid in damaged:
            store.local.remove_blob(vid)
        sb.reset()
        return Result(tid, -1, (), stdout, stderr, f"the command wrote into its input {damaged[0][0]!r}; declare it as an output", timings)
    if exit_code != 0 or error:
        return Result(tid, exit_code, (), stdout, stderr, error, timings)
    result = Result(tid, 0, outputs, stdout, stderr, "", timings)
    store.put_result(result)
    return result


def blobs_needed(thunk: Thunk, resolved: Mapping[str, str]) -> list[str]:
    """The value blobs a run of ``thunk`` puts in its tree (what a remote
    executor must fetch besides the thunk itself)."""
    return [i.ref for i in thunk.all_inputs() if not i.is_thunk] + list(resolved.values())


def wanted(thunk: Thunk, resolved: Mapping[str, str]) -> tuple[dict[str, Wanted], set[str]]:
    """The files a thunk's tree holds, and the directories it needs besides."""
    out_paths = {o.path for o in thunk.outputs}
    files = {}
    for inp in thunk.all_inputs():
        vid = inp.ref if inp.ref.startswith(ids.VALUE) else resolved.get(inp.ref)
        if vid is None:
            raise GgccError(f"input {inp.path}: {inp.ref} has not been forced")
        # An input that is also an output is a private copy, so a command
        # editing it in place (ranlib) cannot reach the store.
        files[inp.path] = Wanted(vid, inp.executable, inp.path in out_paths)
    # The build tool made output directories on the host; do the same.
    dirs = {os.path.dirname(o.path) for o in thunk.outputs}
    dirs.update(thunk.dirs)
    if thunk.cwd != ".":
        dirs.add(thunk.cwd)
    dirs.discard("")
    return files, dirs


def _run(thunk: Thunk, sb: Sandbox, strict: bool) -> tuple[int, str, bytes, bytes]:
    root = sb.root
    argv = [substitute_root(a, root) for a in thunk.args]
    env = {k: substitute_root(v, root) for k, v in thunk.env}
    program = os.path.join(root, thunk.program.path)
    cwd = os.path.join(root, thunk.cwd) if thunk.cwd != "." else root
    if strict:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return -1, "GGCC_SANDBOX=strict needs bubblewrap: install the 'bubblewrap' package", b"", b""
        # An empty tmpfs root with only the sandbox bound at its own path:
        # argument paths stay valid and nothing else of the host is there.
        # (bubblewrap 0.8 cannot set argv[0]; the program's path stands in.)
        argv = [
            # /tmp first: the sandbox itself may live under /tmp.
            "bwrap", "--unshare-all", "--die-with-parent", "--tmpfs", "/tmp",
            "--proc", "/proc", "--dev", "/dev", "--bind", root, root, "--chdir", cwd,
            "--", program, *argv[1:],
        ]
        program = bwrap
    with open(sb.stdout_path, "w+b") as out, open(sb.stderr_path, "w+b") as err:
        try:
            proc = subprocess.Popen(
                argv,
                executable=program,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as e:
            return -1, f"cannot run program {thunk.program.path!r}: {e.strerror or e}", b"", b""
        error = ""
        timeout_s = thunk.timeout_ms / 1000.0 if thunk.timeout_ms else None
        if not _wait_exit(proc, timeout_s):
            error = f"timed out after {timeout_s:g} s; its process group was killed"
        # The leader is a zombie until reaped, so its process-group id cannot
        # be reused: killing the group now reaches only this thunk's processes.
        _kill_group(proc.pid)
        code = proc.wait()
        # Logs name the sandbox by the root token, not by this run's
        # directory: the same on every run and machine, so a cached result
        # replays the same bytes; the consumer decides what the root means.
        here, token = root.encode(), ROOT_TOKEN.encode()
        return code, error, _read_log(out).replace(here, token), _read_log(err).replace(here, token)


def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float | None) -> bool:
    """Wait until the process exits without reaping it; False on timeout.

    A pidfd wakes us the moment the process exits; Popen.wait(timeout)
    would poll with sleeps, adding up to milliseconds to every thunk.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT) if timeout_s is None else proc.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout_s is None else int(timeout_s * 1000) + 1))
    finally:
        os.close(fd)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_log(f: BinaryIO) -> bytes:
    f.seek(0)
    data = f.read(MAX_LOG_BYTES + 1)
    if len(data) > MAX_LOG_BYTES:
        data = data[:MAX_LOG_BYTES] + b"\n[ggcc: output truncated at 64 MiB]\n"
    return data


def _collect(thunk: Thunk, root: str, store: LocalStore) -> tuple[OutputValue, ...]:
    outputs = []
    for o in thunk.outputs:
        path = os.path.join(root, o.path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise GgccError(f"output {o.tag!r} ({o.path}) was not produced by the command") from None
        if not stat.S_ISREG(st.st_mode):
            raise GgccError(f"output {o.tag!r} ({o.path}) is not a regular file")
        try:
            kind = kind_of_output(path)
        except ThunkFormatError as e:
            raise GgccError(f"output {o.tag!r} looks like a thunk but is not valid: {e}") from None
        id_ = ids.hash_file(path, kind)
        if st.st_nlink > 1:  # shares an inode with an input: copy, never move
            store.put_file(path, id_)
        else:  # linked in unless there: not the memory of present blobs, which a clear outruns
            store.adopt_file(path, id_)
        outputs.append(OutputValue(o.tag, id_, bool(st.st_mode & stat.S_IXUSR)))
    _collect_new_thunks(root, store)
    return tuple(outputs)


def _collect_new_thunks(root: str, store: LocalStore) -> None:
    """Store the thunks a command wrote to .ggcc/thunks (dynamic graphs)."""
    d = os.path.join(root, NEW_THUNKS_DIR)
    if not os.path.isdir(d):
        return
    for e in os.scandir(d):
        if not e.is_file(follow_symlinks=False):
            continue
        try:
            data, _ = read_thunk_file(e.path)
        except ThunkFormatError as err:
            raise GgccError(f"new thunk {e.name!r} written by the command is not valid: {err}") from None
        store.put_bytes(data, ids.THUNK)


def _msg(e: BaseException) -> str:
    if isinstance(e, GgccError):
        return e.message
    if isinstance(e, OSError) and e.filename:
        both = f"{e.filename} -> {e.filename2}" if e.filename2 else e.filename
        return f"{both}: {e.strerror}"
    return str(e)
