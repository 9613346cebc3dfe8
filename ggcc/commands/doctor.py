"""`ggcc doctor`: is this machine set up to build through ggcc?

One line per check, each with a mark and, when it fails, what to do:
ggcc and Python; every setting; GGCC_DIR (writable, free space, the
store against its limit); each compiler on PATH (a real compile through
ggcc, in a scratch GGCC_DIR, must run as a thunk and give the compiler's
own bytes); the daemon; the shared store (a test blob written, read back
and removed); the engine (the Lambda function Active with this ggcc's
code, or live workers); bubblewrap for the strict sandbox; the
placeholder guard of deferred mode. A check that cannot run fails with
its reason: never a traceback.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ggcc import __version__
from ggcc.base import config
from ggcc.base.errors import GgccError

OK, FAIL, INFO = "ok", "FAIL", "--"
COMPILERS = (("cc", "c"), ("gcc", "c"), ("g++", "c++"), ("clang", "c"), ("clang++", "c++"))


@dataclass(frozen=True)
class Check:
    mark: str  # OK, FAIL or INFO (not used here, or nothing to check)
    what: str
    detail: str
    fix: str = ""  # for FAIL: what to do


def run(env: Mapping[str, str]) -> list[Check]:
    """Every check, in the order they are shown."""
    root = config.ggcc_dir(env)
    out: list[Check] = [Check(OK, "ggcc", f"{__version__} on Python {sys.version.split()[0]} ({sys.executable})")]
    out += _guarded("settings", lambda: _settings(env))
    out += _guarded("GGCC_DIR", lambda: [_ggcc_dir(root, env)])
    dir_ok = out[-1].mark == OK
    for name, lang in COMPILERS:
        out += _guarded(name, lambda name=name, lang=lang: _compiler(name, lang, env))  # type: ignore[misc]
    out += _guarded("native client", lambda: [_native(env)])
    out += _guarded("daemon", lambda: [_daemon(root) if dir_ok else _not_checked("daemon")])
    out += _guarded("shared store", lambda: [_shared_store(env)])
    out += _guarded("engine", lambda: [_engine(env)])
    out += _guarded("bubblewrap", lambda: [_bubblewrap(env)])
    out += _guarded("ggcc infer's guard", lambda: [_guard(root, env) if dir_ok else _not_checked("ggcc infer's guard")])
    return out


def _not_checked(what: str) -> Check:
    return Check(INFO, what, "not checked: it lives in GGCC_DIR, which cannot be used")


def _guarded(what: str, check: Callable[[], list[Check]]) -> list[Check]:
    try:
        return check()
    except GgccError as e:
        return [Check(FAIL, what, e.message)]
    except Exception as e:  # a check that cannot run says why, in one line
        return [Check(FAIL, what, f"could not be checked: {type(e).__name__}: {e}")]


def _settings(env: Mapping[str, str]) -> list[Check]:
    from ggcc.base import config_file, settings

    bad = settings.problems(env)
    if bad:
        return [Check(FAIL, "setting", line, "fix it, or unset it (`ggcc config` shows where it came from)")
                for line in bad]
    given = [s.name for s in settings.SETTINGS if env.get(s.name) and s.scope != settings.INTERNAL]
    where = config_file.path(env)
    file = f"config file {where}" + ("" if os.path.exists(where) else " (none)")
    return [Check(OK, "settings", f"{len(given)} set, all valid; {file}")]


def _ggcc_dir(root: str, env: Mapping[str, str]) -> Check:
    from ggcc.storage import upkeep
    from ggcc.storage.local_store import LocalStore

    why = config.dir_problem(root)
    if why:
        return Check(FAIL, "GGCC_DIR", f"{root}: {why}", "set GGCC_DIR to a writable directory with space")
    st = os.statvfs(root)
    free = st.f_bavail * st.f_frsize
    limit_text = env.get("GGCC_MAX_SIZE")
    limit = config.parse_size(limit_text) if limit_text else config.DEFAULT_MAX_SIZE
    size = upkeep.usage(LocalStore(root)).total_bytes
    return Check(OK, "GGCC_DIR", f"{root}: writable, {_gib(free)} free; the store holds {_gib(size)} of {_gib(limit)}")


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _compiler(name: str, lang: str, env: Mapping[str, str]) -> list[Check]:
    """A real compile through ggcc (no daemon, a scratch GGCC_DIR) against
    the compiler's own, byte for byte."""
    from ggcc.commands import stats_report

    path = shutil.which(name, path=env.get("PATH"))
    if path is None:
        return [] if name != "cc" else [Check(FAIL, "cc", "no C compiler on PATH", "install gcc or clang")]
    with tempfile.TemporaryDirectory(prefix="ggcc-doctor-") as tmp:
        src = os.path.join(tmp, "t.c" if lang == "c" else "t.cc")
        with open(src, "w") as f:
            f.write("int doctor(int x) { return x * 6 + 1; }\n")
        plain = subprocess.run([path, "-O2", "-c", src, "-o", os.path.join(tmp, "plain.o")], capture_output=True,
                               timeout=120)
        if plain.returncode != 0:
            return [Check(FAIL, name, f"{path} cannot compile a one-line file: "
                          f"{plain.stderr.decode(errors='replace').strip().splitlines()[-1:]}", "repair the compiler")]
        scratch = os.path.join(tmp, "ggcc")
        # The compiler alone: the local engine, no shared store, no setting of the user's (checked above).
        run_env = {k: v for k, v in env.items() if not k.startswith(("GGCC_", "GG_"))}
        run_env.update(GGCC_DIR=scratch, GGCC_DAEMON="0", GGCC_SPECULATE="0", GGCC_CONFIG=os.devnull)
        t0 = time.monotonic()
        ours = subprocess.run([*_ggcc_command(), name, "-O2", "-c", src, "-o", os.path.join(tmp, "ours.o")],
                              capture_output=True, env=run_env, cwd=tmp, timeout=300)
        took = time.monotonic() - t0
        s = stats_report.summary(scratch)
        local = s.local_fallbacks
        same = _read(os.path.join(tmp, "ours.o")) == _read(os.path.join(tmp, "plain.o"))
    version = _version(path)
    if ours.returncode != 0 or not same:
        return [Check(FAIL, name, f"{path}: a compile through ggcc {'failed' if ours.returncode else 'differs'}",
                      "report it; meanwhile GGCC_DISABLE=1 turns ggcc off")]
    if not local and s.executed != 1:
        return [Check(FAIL, name, f"{path}: the compile through ggcc did not run as a thunk", "report it")]
    if local:
        why = ", ".join(str(k) for k in local)
        return [Check(FAIL, name, f"{path} ({version}): compiles run without ggcc ({why})",
                      "`ggcc stats` after a build counts this reason; see docs for it")]
    return [Check(OK, name, f"{path} ({version}): a compile ran as a thunk in {took:.1f} s (toolchain captured), "
                  "identical to the compiler's own")]


def _ggcc_command() -> list[str]:
    beside = os.path.join(os.path.dirname(sys.executable), "ggcc")
    return [beside] if os.access(beside, os.X_OK) else [sys.executable, "-m", "ggcc"]


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "version unknown"
    return (out.splitlines() or ["version unknown"])[0]


def _native(env: Mapping[str, str]) -> Check:
    """ggcc-client: compiles reach the daemon without starting Python."""
    from ggcc.base import config_file
    from ggcc.client import native, wire

    what = "native client"
    if env.get("GGCC_NATIVE") == "0":
        return Check(INFO, what, "off (GGCC_NATIVE=0): each compile starts Python")
    client = native.find()
    if client is None:
        return Check(FAIL, what, f"{native.NAME} was not built at install (no working C compiler then): each compile "
                     "starts Python", "install a C compiler (Debian: apt-get install gcc), then reinstall ggcc "
                     "(pip install --force-reinstall --no-deps ggcc)")
    p = subprocess.run([client, "--native-wire"], capture_output=True, timeout=30)
    if p.returncode != 0 or p.stdout.strip() != wire.NATIVE_WIRE:
        return Check(FAIL, what, f"{client} is of another ggcc (wire {p.stdout.strip().decode() or '?'}, this is "
                     f"{wire.NATIVE_WIRE.decode()}): compiles go through Python", "reinstall ggcc")
    note = ""
    command = os.path.join(os.path.dirname(client), "ggcc")
    if (_read(command) or b"").startswith(b"#!"):
        note = (f"; {command} is a script that starts sh before the client on each compile named `ggcc`"
                " (reinstall ggcc: setup.py installs the client as bin/ggcc)")
    if config_file.SET_VAR not in env and os.path.exists(config_file.path(env)):
        note += (f"; {config_file.path(env)} is read by Python: a compile outside `ggcc make`, `ggcc ninja` or "
                "`ggcc cmake --build` starts Python when the file has settings")
    return Check(OK, what, f"{client}: compiles reach the daemon without starting Python{note}")


def _daemon(root: str) -> Check:
    from ggcc.client import launch

    if not launch.daemon_alive(root):
        return Check(INFO, "daemon", f"not running for {root}; the first compile starts it")
    t0 = time.monotonic()
    reply = launch.ask(root, [b"status"])
    ms = (time.monotonic() - t0) * 1000
    if reply is None:
        return Check(FAIL, "daemon", f"runs for {root} but does not answer", "`ggcc daemon stop`, then build again")
    lines = dict(line.partition(" ")[::2] for line in reply[1].decode().splitlines())
    version = lines.get("version", "older than 0")
    if version != __version__:
        return Check(FAIL, "daemon", f"runs ggcc {version}, this is {__version__}", "`ggcc daemon stop`")
    return Check(OK, "daemon", f"running (pid {lines.get('pid', '?')}, {lines.get('jobs', '?')} jobs), "
                 f"answered in {ms:.1f} ms")


def _shared_store(env: Mapping[str, str]) -> Check:
    from ggcc.storage import storage_uri
    from ggcc.storage.uri import open_backend

    uri = storage_uri(dict(env))
    if not uri:
        return Check(INFO, "shared store", "none (GGCC_STORAGE is not set): this machine's cache is its own")
    from ggcc.storage.backend import ReadOnly

    backend = open_backend(uri, env)
    key = f"doctor/{secrets.token_hex(8)}"
    data = secrets.token_bytes(64)
    try:
        try:
            backend.put_small(key, data)
        except ReadOnly:
            backend.get_small(key)  # reads must work
            return Check(INFO, "shared store", f"{backend.describe()}: read-only for these credentials: this "
                         "machine gets hits from it and shares nothing (as CI writes and developers read)")
        back = backend.get_small(key)
        backend.delete(key)
    except Exception as e:
        said = str(e) if backend.describe() in str(e) else f"{backend.describe()}: {type(e).__name__}: {e}"
        return Check(FAIL, "shared store", said, "check its address, that it runs, and its credentials")
    if back != data:
        return Check(FAIL, "shared store", f"{backend.describe()}: a test blob came back different",
                     "check the store: another program may rewrite its keys")
    return Check(OK, "shared store", f"{backend.describe()}: a test blob written, read back and removed")


def _engine(env: Mapping[str, str]) -> Check:
    engine = env.get("GGCC_ENGINE") or "local"
    if engine == "lambda":
        from ggcc.aws import deploy

        name = env.get("GGCC_LAMBDA_FUNCTION") or "ggcc"
        cfg = deploy.status(name, env.get("GGCC_LAMBDA_REGION") or None)
        if cfg.get("State") != "Active":
            return Check(FAIL, "engine", f"lambda: function {name!r} is {cfg.get('State')}", "`ggcc lambda status`")
        if not cfg.get("CodeIsCurrent"):
            return Check(FAIL, "engine", f"lambda: function {name!r} runs another ggcc's code", "`ggcc lambda deploy`")
        return Check(OK, "engine", f"lambda: function {name!r} Active with this ggcc's code")
    if engine == "workers":
        from ggcc.storage import storage_uri
        from ggcc.workers.queue import open_queue_at

        try:
            q, where = open_queue_at(storage_uri(dict(env)), 3, "GGCC_ENGINE=workers", env)
        except GgccError:
            return Check(FAIL, "engine", "workers need a redis:// GGCC_STORAGE", "set GGCC_STORAGE=redis://host:port/db")
        try:
            live = q.live_workers()
        except Exception as e:
            return Check(FAIL, "engine", f"workers: the farm's Redis {where} cannot be reached ({e})",
                         "check GGCC_STORAGE and that the Redis runs")
        if not live:
            return Check(FAIL, "engine", f"workers: none alive on {where}",
                         "start `ggcc worker` on the farm's machines")
        return Check(OK, "engine", f"workers: {len(live)} alive, {sum(int(w.get('jobs', 0)) for w in live)} slots")
    jobs = env.get("GGCC_JOBS") or str(config.default_jobs())
    return Check(OK, "engine", f"local, {jobs} compiles at once")


def _bubblewrap(env: Mapping[str, str]) -> Check:
    strict = env.get("GGCC_SANDBOX") == "strict"
    bwrap = shutil.which("bwrap", path=env.get("PATH"))
    if bwrap is None:
        if strict:
            return Check(FAIL, "bubblewrap", "GGCC_SANDBOX=strict needs bubblewrap, not found",
                         "install the 'bubblewrap' package, or unset GGCC_SANDBOX")
        return Check(INFO, "bubblewrap", "not installed (only GGCC_SANDBOX=strict needs it)")
    p = subprocess.run([bwrap, "--dev-bind", "/", "/", "--unshare-all", "true"], capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
        return Check(FAIL if strict else INFO, "bubblewrap", f"{bwrap} cannot make a sandbox here: {why}",
                     "allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1)")
    return Check(OK, "bubblewrap", f"{bwrap} makes sandboxes" + ("" if strict else " (GGCC_SANDBOX=strict would use it)"))


def _guard(root: str, env: Mapping[str, str]) -> Check:
    from ggcc import preload

    try:
        preload.library(root, dict(env))
    except GgccError as e:
        return Check(INFO, "ggcc infer's guard", f"cannot be built ({e.message}): ggcc infer will detect programs "
                     "that read placeholders but not hold them")
    return Check(OK, "ggcc infer's guard", "built: programs that read a placeholder wait for the real output")


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.mark:<4}  {c.what}: {c.detail}")
        if c.mark == FAIL and c.fix:
            lines.append(f"      -> {c.fix}")
    failed = sum(1 for c in checks if c.mark == FAIL)
    lines.append(f"{failed} problem{'s' if failed != 1 else ''}" if failed else "all good")
    return "\n".join(lines) + "\n"
