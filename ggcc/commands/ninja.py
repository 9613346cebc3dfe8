"""`ggcc ninja ARGS`, `ggcc make ARGS`: the build tool, -j fitted to the engine.

How many steps to run at once depends on where they run: the cores for
the local engine (plus two, so a core is never idle while a launcher
writes back), hundreds for Lambda, the farm's slots for workers, GGCC_REAPI_JOBS for an
REAPI farm. A -j the
user gave is kept. The daemon is started before the build, so the first
compiles do not each wait for it. Nothing in the build tree is changed:
the compilers come from the build files (`ggcc cmake`, CC="ggcc gcc").
The build's PATH starts with a link named ggcc to the native client, so
that CC="ggcc gcc" skips bin/ggcc's sh line (native_first).
A one-line summary of what ggcc did for this build goes to stderr at the end,
after, on a CI machine or with a shared store, what the build ran is filed
and pushed.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys

from ggcc.base import config, stats
from ggcc.base.errors import GgccError
from ggcc.client import launch
from ggcc.commands.stats_report import build_line, summary
from ggcc.storage import storage_uri

LAMBDA_JOBS_CAP = 500  # launchers are ~9 MB each: 500 fit in a laptop


def has_jobs_flag(args: list[str]) -> bool:
    for a in args:
        if a == "--":
            break
        if a.startswith("--jobs"):
            return True
        # -j, -j8, and make's bundled short flags (-kj8): flag letters up to the j
        if a.startswith("-") and not a.startswith("--") and "j" in a and a[1:a.index("j") + 1].isalpha():
            return True
    return False


def jobs_for(env: dict[str, str]) -> int:
    engine = env.get("GGCC_ENGINE") or "local"
    cores = config.default_jobs()
    if engine == "lambda":
        return min(LAMBDA_JOBS_CAP, int(env.get("GGCC_LAMBDA_CONCURRENCY", "1000")))
    if engine == "workers":
        return cores + 2 + _farm_slots(env)
    if engine == "reapi":  # REAPI does not say how many workers a farm has: the user does
        from ggcc.base.settings import number

        return int(number(env, "GGCC_REAPI_JOBS", 64))
    return int(env.get("GGCC_JOBS") or cores) + 2


def native_first(root: str) -> str | None:
    """A directory holding only `ggcc`, a link to the native client, for
    the front of the build's PATH; None without a client (or under
    GGCC_NATIVE=0), or if it cannot be made.

    setup.py installs the client as bin/ggcc itself; but the `ggcc` a build
    finds on PATH may still be the sh script that execs the client (a
    source checkout's bin/, an install from before): one more program
    started per compile, a few tenths of a millisecond each. Through this
    link the build reaches the client at once; the client, seeing its own
    name, does all that bin/ggcc would, and hands anything that is not a
    compile to the Python ggcc beside its real file. Nothing else on PATH
    is shadowed."""
    from ggcc.client import native

    client = native.find()
    if client is None:
        return None
    d = os.path.join(root, "native")
    link = os.path.join(d, "ggcc")
    try:
        if not (os.path.islink(link) and os.readlink(link) == client):
            os.makedirs(d, exist_ok=True)
            tmp = f"{link}.{os.getpid()}.tmp"
            os.symlink(client, tmp)
            os.replace(tmp, link)  # a build running beside this one never sees no link
    except OSError:
        return None
    return d


def _farm_slots(env: dict[str, str]) -> int:
    try:
        from ggcc.storage import storage_uri
        from ggcc.workers.queue import open_queue_at

        q, _ = open_queue_at(storage_uri(env), 3, "GGCC_ENGINE=workers", env)
        return sum(int(w.get("jobs", 0)) for w in q.live_workers())
    except Exception:
        return 0  # no farm, or an unreachable one: the build will run here


def main(tool: str, args: list[str]) -> int:
    env = dict(os.environ)
    root = config.ggcc_dir()
    if not launch.start(root, launch.compiler_env(), retry_now=True):
        sys.stderr.write(f"ggcc {tool}: the daemon did not start (see {os.path.join(root, 'daemon.log')}); "
                         "compiles will start it or run locally\n")
    cmd = [tool, *args] if has_jobs_flag(args) else [tool, f"-j{jobs_for(env)}", *args]
    sys.stderr.write(f"ggcc: running {shlex.join(cmd)}\n")
    # The build's own id: its launchers' steps are counted for it too, so
    # the summary is this build's, whatever else runs beside it.
    build = secrets.token_hex(8)
    build_env = dict(os.environ, **{stats.BUILD_ENV: build})
    first = native_first(root)
    if first:
        build_env["PATH"] = first + os.pathsep + build_env.get("PATH", os.defpath)
    try:
        rc = subprocess.run(cmd, env=build_env).returncode
    except FileNotFoundError:
        raise GgccError(f"{tool}: command not found (Debian: apt-get install {'ninja-build' if tool == 'ninja' else tool})") from None
    except KeyboardInterrupt:
        rc = 130
    if rc != 130 and (env.get("CI") or storage_uri(env)):
        # The daemon files and pushes what it ran once the build is over;
        # a CI machine that stops right after the build would lose them,
        # and other machines would miss what this one ran. Here, nobody
        # waits: the next build of a tree settles what it looks up.
        launch.ask(root, [b"sync"])
    try:
        sys.stderr.write(build_line(summary(root, build)) + "\n")
    finally:
        try:
            os.unlink(stats.build_log(root, build))
        except OSError:
            pass
    return rc
