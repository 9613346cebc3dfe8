"""`ggcc ninja ARGS`, `ggcc make ARGS`: the build tool, -j fitted to the engine.

How many steps to run at once depends on where they run: the cores for
the local engine (plus two, so a core is never idle while a launcher
writes back), hundreds for Lambda, the farm's slots for workers. A -j the
user gave is kept. The daemon is started before the build, so the first
compiles do not each wait for it. Nothing in the build tree is changed:
the compilers come from the build files (`ggcc cmake`, CC="ggcc gcc").
A one-line summary of what ggcc did for this build goes to stderr at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ggcc import client, config, stats
from ggcc.errors import GgccError

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
    return int(env.get("GGCC_JOBS") or cores) + 2


def _farm_slots(env: dict[str, str]) -> int:
    try:
        from ggcc.storage import storage_uri
        from ggcc.storage.redis_backend import RedisBackend
        from ggcc.storage.uri import open_backend
        from ggcc.workers.queue import Queue

        backend = open_backend(storage_uri(env))
        if not isinstance(backend, RedisBackend):
            return 0
        return sum(int(w.get("jobs", 0)) for w in Queue(backend.client(timeout_s=3)).live_workers())
    except Exception:
        return 0  # the farm is unreachable: the build will run here


def main(tool: str, args: list[str]) -> int:
    env = dict(os.environ)
    root = config.ggcc_dir()
    if not client.start(root, client.compiler_env(), retry_now=True):
        sys.stderr.write(f"ggcc {tool}: the daemon did not start (see {os.path.join(root, 'daemon.log')}); "
                         "compiles will start it or run locally\n")
    cmd = [tool, *args] if has_jobs_flag(args) else [tool, f"-j{jobs_for(env)}", *args]
    sys.stderr.write(f"ggcc: running {' '.join(cmd)}\n")
    before = stats.summary(root)
    try:
        rc = subprocess.run(cmd).returncode
    except FileNotFoundError:
        raise GgccError(f"{tool}: command not found (Debian: apt-get install {'ninja-build' if tool == 'ninja' else tool})") from None
    sys.stderr.write(summary_line(before, stats.summary(root)) + "\n")
    return rc


def summary_line(before: dict[str, object], after: dict[str, object]) -> str:
    def delta(key: str) -> int:
        a, b = after.get(key, 0), before.get(key, 0)
        return int(a) - int(b) if isinstance(a, int) and isinstance(b, int) else 0

    la, lb = after["local_fallbacks"], before["local_fallbacks"]
    assert isinstance(la, dict) and isinstance(lb, dict)
    fallbacks = {k: n - lb.get(k, 0) for k, n in la.items() if n - lb.get(k, 0)}
    why = ", ".join(f"{n} {k}" for k, n in sorted(fallbacks.items(), key=lambda kv: -kv[1]))
    return (f"ggcc: {delta('invocations')} steps: {delta('cache_hits')} cache hits, {delta('executed')} run, "
            f"{sum(fallbacks.values())} run without ggcc" + (f" ({why})" if why else ""))
