"""ggcc's subcommands: thunk, force, show, cat, cache, version.

Exit codes: 0 success, 1 a thunk failed (its stderr is shown), 2 bad input
or usage (one line on stderr saying what and what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from ggcc import __version__, config, ids
from ggcc.errors import GgccError
from ggcc.local_store import CorruptBlob, LocalStore


def _store() -> LocalStore:
    from ggcc.storage import open_store

    return open_store(config.ggcc_dir())


# -- ggcc thunk ---------------------------------------------------------------
def cmd_thunk(a: argparse.Namespace) -> int:
    from ggcc import placeholder
    from ggcc.create import thunk_from_command
    from ggcc.hash_cache import HashCache

    store = _store()
    env = {}
    for item in a.env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise GgccError(f"--env {item!r}: write NAME=VALUE")
        env[name] = value
    if a.timeout < 0:
        raise GgccError("--timeout: must be >= 0 seconds (0: no limit)")
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    thunk = thunk_from_command(
        command, a.input, a.output, env, int(a.timeout * 1000), store, HashCache(store.root)
    )
    tid = store.put_thunk(thunk)
    if not a.no_placeholder:
        for o in thunk.outputs:
            ref = tid if o is thunk.outputs[0] else f"{tid}#{o.tag}"
            placeholder.write(o.path, ref)
    print(tid)
    return 0


# -- ggcc force ---------------------------------------------------------------
def cmd_force(a: argparse.Namespace) -> int:
    from ggcc import progress, targets
    from ggcc.engines import make_engine
    from ggcc.scheduler import force

    store = _store()
    tlist = []
    for text in a.targets:
        try:
            tlist.append(targets.resolve(text, store))
        except targets.AlreadyReal:
            if not a.quiet:
                sys.stderr.write(f"ggcc: {text}: already a real file; nothing to do\n")
    if a.jobs is not None and a.jobs < 1:
        raise GgccError("--jobs: must be at least 1")
    engine = make_engine(a.engine, store, a.jobs or config.default_jobs(), strict=config.strict_sandbox())
    listener = progress.make_progress(a.quiet)
    todo = tlist
    try:
        for attempt in range(2):
            report = force([t.ref for t in todo], store, engine, listener)
            damaged = []
            for t in todo:
                value = report.values.get(t.ref)
                if value is None:
                    continue
                if t.placeholder_path is None:
                    print(f"{t.ref} {value.ref}")
                    continue
                try:
                    if not targets.write_back(t, value, store):
                        sys.stderr.write(f"ggcc: {t.text}: changed since it was made; left as it is\n")
                except CorruptBlob:  # removed and counted: forced again, it runs
                    damaged.append(t)
            if not damaged:
                break
            if attempt:
                raise GgccError(f"{damaged[0].text}: its output was corrupt in the store twice; "
                                "check the disk, then run `ggcc cache verify`")
            todo = damaged
    finally:
        progress.close(listener)
        engine.shutdown()
    for f in report.failures:
        sys.stderr.write(f"ggcc: thunk {f.thunk_id} failed: {f.message}\n")
        if f.result is not None:
            sys.stderr.buffer.write(f.result.stdout + f.result.stderr)
            sys.stderr.flush()
    if not a.quiet:
        sys.stderr.write(
            f"ggcc: {len(tlist)} target(s): {report.executed} run, {report.hits} cached, {len(report.failures)} failed\n"
        )
    store.maybe_trim(config.max_size())
    return 0 if report.ok else 1


# -- ggcc show / cat --------------------------------------------------------------
def cmd_show(a: argparse.Namespace) -> int:
    from ggcc import targets
    from ggcc.thunk import split_ref

    store = _store()
    text = a.target
    if ids.is_valid_id(text) and text[0] == ids.VALUE:
        present = store.has(text)
        info = {"value": text, "size": ids.id_size(text), "in_store": present}
        print(json.dumps(info, indent=2) if a.json else f"value {text}\n  size      {info['size']}\n  in store  {present}")
        return 0
    target = targets.resolve(text, store)
    tid, tag = split_ref(target.ref)
    thunk = store.load_thunk(tid)
    result = store.get_result(tid)
    if a.json:
        obj = json.loads(thunk.serialize()[len(b"ggcc-thunk 1\n"):])
        obj["id"] = tid
        if target.placeholder_path:
            obj["placeholder"] = {"path": target.placeholder_path, "ref": target.ref}
        obj["result"] = None if result is None else json.loads(result.to_json())
        print(json.dumps(obj, indent=2, sort_keys=True))
        return 0
    lines = [f"thunk {tid}"]
    if target.placeholder_path:
        lines.append(f"  placeholder {target.placeholder_path} (output {tag or 'default'})")
    lines.append(f"  program  {thunk.program.path} <- {thunk.program.ref}")
    lines.append("  args     " + " ".join(_quote(x) for x in thunk.args))
    lines.append("  cwd      " + thunk.cwd)
    lines.append("  env      " + (" ".join(f"{k}={_quote(v)}" for k, v in thunk.env) or "(none)"))
    lines.append(f"  inputs   {len(thunk.inputs)}")
    for i in thunk.inputs:
        lines.append(f"    {i.path} <- {i.ref}{'  (executable)' if i.executable else ''}")
    lines.append(f"  outputs  {len(thunk.outputs)}")
    for o in thunk.outputs:
        lines.append(f"    {o.tag}: {o.path}")
    lines.append("  timeout  " + (f"{thunk.timeout_ms / 1000:g} s" if thunk.timeout_ms else "none"))
    if result is None:
        lines.append("  result   not cached")
    else:
        lines.append(f"  result   cached, exit {result.exit_code}")
        for ov in result.outputs:
            lines.append(f"    {ov.tag} -> {ov.ref}")
    print("\n".join(lines))
    return 0


def cmd_cat(a: argparse.Namespace) -> int:
    if not ids.is_valid_id(a.id):
        raise GgccError(f"{a.id!r} is not a value or thunk id")
    sys.stdout.buffer.write(_store().read_bytes(a.id))
    return 0


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


# -- ggcc cache ---------------------------------------------------------------
def cmd_cache(a: argparse.Namespace) -> int:
    store = _store()
    limit = config.parse_size(a.max_size) if getattr(a, "max_size", None) else config.max_size()
    if a.action == "stats":
        s = store.stats()
        info = {
            "dir": store.root,
            "blobs": s.blobs,
            "blob_bytes": s.blob_bytes,
            "results": s.results,
            "result_bytes": s.result_bytes,
            "total_bytes": s.total_bytes,
            "max_bytes": limit,
        }
        if a.json:
            print(json.dumps(info, indent=2))
        else:
            print(f"store      {store.root}")
            print(f"blobs      {s.blobs} ({_human(s.blob_bytes)})")
            print(f"results    {s.results} ({_human(s.result_bytes)})")
            print(f"size       {_human(s.total_bytes)} of {_human(limit)} ({100 * s.total_bytes / max(limit, 1):.1f}%)")
    elif a.action == "trim":
        removed, freed = store.trim(limit)
        print(f"removed {removed} files, freed {_human(freed)}; limit {_human(limit)}")
    elif a.action == "verify":
        checked, removed = store.verify()
        print(f"checked {checked} files, removed {removed} bad ones")
        return 1 if removed else 0
    elif a.action == "clear":
        store.clear()
        print(f"cleared {store.root}")
    return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def cmd_stats(a: argparse.Namespace) -> int:
    from ggcc import stats

    root = config.ggcc_dir()
    if a.zero:
        stats.zero(root)
        print("statistics zeroed")
        return 0
    s = stats.summary(root)
    print(stats.as_json(s) if a.json else stats.render(s))
    return 0


def cmd_config(a: argparse.Namespace) -> int:
    from ggcc import config_file, settings, settings_report

    where = config_file.path(os.environ)
    try:
        with open(where, encoding="utf-8", errors="replace") as f:
            text: str | None = f.read()
    except OSError:
        text = None
    found = settings_report.rows(os.environ, text, config.ggcc_dir())
    problems = settings.problems(os.environ)
    if a.markdown:
        sys.stdout.write(settings_report.markdown())
        return 0
    if a.name:
        want = config_file.name_of(a.name)
        row = next((r for r in found if r.name == want), None)
        if row is None:
            raise GgccError(f"{a.name}: not a setting; `ggcc config` lists them")
        print(row.value)
        return 0
    if a.json:
        print(json.dumps({"file": where, "file_exists": text is not None, "problems": problems,
                          "settings": [{"name": r.name, "value": r.value, "source": r.source, "scope": r.scope,
                                        "doc": r.doc} for r in found]}, indent=2))
    else:
        sys.stdout.write(settings_report.render(found, where, text is not None, problems))
    return 1 if problems else 0


def cmd_doctor(a: argparse.Namespace) -> int:
    from ggcc import doctor

    checks = doctor.run(os.environ)
    if a.json:
        print(json.dumps([{"mark": c.mark, "what": c.what, "detail": c.detail, "fix": c.fix} for c in checks],
                         indent=2))
    else:
        sys.stdout.write(doctor.render(checks))
    return 1 if any(c.mark == doctor.FAIL for c in checks) else 0


def cmd_daemon(a: argparse.Namespace) -> int:
    from ggcc import client

    root = config.ggcc_dir()
    if a.action == "run":
        from ggcc import daemon

        return daemon.run(root)
    if a.action == "start":
        if not client.start(root, client.compiler_env(), retry_now=True):
            raise GgccError(f"the daemon for {root} did not start; see {os.path.join(root, 'daemon.log')}")
        reply = client.ask(root, [b"status"])
        print(reply[1].decode() if reply else "started", end="")
        return 0
    reply = client.ask(root, [b"stop" if a.action == "stop" else b"status"])
    if reply is None:
        print(f"no daemon serves {root}")
        return 0 if a.action == "stop" else 1
    if a.action == "stop":
        # Wait until it has let go of its lock: then a new one can start.
        deadline = time.monotonic() + 60
        while client.daemon_alive(root) and time.monotonic() < deadline:
            time.sleep(0.02)
        print("stopped")
        return 0
    print(reply[1].decode(), end="")
    return 0


def cmd_infer(a: argparse.Namespace) -> int:
    from ggcc import infer

    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    return infer.main(command)


def cmd_masquerade(a: argparse.Namespace) -> int:
    from ggcc import infer

    print(infer.masquerade_dir(config.ggcc_dir()))
    return 0


def cmd_version(a: argparse.Namespace) -> int:
    print(f"ggcc {__version__}")
    return 0


_MAIN_HELP = """\
A compiler launcher: every compile and link becomes a thunk, cached by
content and run here, on a build farm or on AWS Lambda; the outputs are
byte for byte the compiler's own.

Put it in front of the compiler:
  ggcc gcc -O2 -c x.c -o x.o                   any gcc, g++, cc, c++ or clang command
  CC="ggcc gcc" CXX="ggcc g++" ./configure && ggcc make
  ggcc cmake -G Ninja -S . -B build && ggcc ninja -C build
  cmake -DCMAKE_C_COMPILER_LAUNCHER=ggcc -DCMAKE_CXX_COMPILER_LAUNCHER=ggcc ...
  ggcc stats                                   what it did: hits, runs, why something ran without it

The settings that matter (each one, its value and where it came from:
`ggcc config`; they can live in ~/.config/ggcc/config.toml):
  GGCC_DIR        the local store (default ~/.cache/ggcc)
  GGCC_MAX_SIZE   its size limit (default 5G)
  GGCC_STORAGE    a shared store: redis://host:port/db or s3://bucket/prefix
  GGCC_ENGINE     where steps run: local (default), workers or lambda
  GGCC_DISABLE=1  ggcc steps aside: every compile runs as without it
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ggcc",
        usage="ggcc COMPILER ARGS...  |  ggcc COMMAND ...",
        description=_MAIN_HELP,
        epilog="`ggcc COMMAND --help` for a command's options; `ggcc doctor` checks the set-up.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"ggcc {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    t = sub.add_parser("thunk", help="make a thunk from a command and the files it reads; write placeholders")
    t.add_argument("-i", "--input", action="append", default=[], metavar="PATH", help="a file the command reads")
    t.add_argument("-o", "--output", action="append", default=[], metavar="PATH", help="a file the command writes")
    t.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE", help="an environment variable (none is inherited)")
    t.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS", help="kill the command after this long (0: never)")
    t.add_argument("--no-placeholder", action="store_true", help="only print the thunk id")
    t.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM [ARGS...]")
    t.set_defaults(func=cmd_thunk)

    f = sub.add_parser("force", help="run thunks (placeholders, thunk ids or thunk files) and put outputs in place")
    f.add_argument("targets", nargs="+", metavar="TARGET")
    f.add_argument("-j", "--jobs", type=int, default=None, help="thunks at once (default: the number of cores)")
    f.add_argument("--engine", default=os.environ.get("GGCC_ENGINE") or "local", choices=["local", "workers", "lambda"],
                   help="where thunks run: here, or on `ggcc worker`s through the Redis of GGCC_STORAGE")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    f.set_defaults(func=cmd_force)

    s = sub.add_parser("show", help="describe a placeholder, thunk or value")
    s.add_argument("target", metavar="TARGET")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    c = sub.add_parser("cat", help="print a blob from the store")
    c.add_argument("id", metavar="ID")
    c.set_defaults(func=cmd_cat)

    k = sub.add_parser("cache", help="the local store: stats, trim, clear")
    ksub = k.add_subparsers(dest="action", metavar="ACTION", required=True)
    ks = ksub.add_parser("stats", help="size and counts")
    ks.add_argument("--json", action="store_true")
    kt = ksub.add_parser("trim", help="evict least recently used entries down to the size limit")
    kt.add_argument("--max-size", metavar="SIZE", help="limit to trim to (default: GGCC_MAX_SIZE or 5G)")
    ksub.add_parser("verify", help="rehash every blob and check every result; drop bad ones")
    ksub.add_parser("clear", help="remove everything in the local store")
    k.set_defaults(func=cmd_cache)

    st = sub.add_parser("stats", help="what the launcher did: hits, runs, local fallbacks by reason, errors")
    st.add_argument("--json", action="store_true")
    st.add_argument("--zero", action="store_true", help="reset the counters")
    st.set_defaults(func=cmd_stats)

    i = sub.add_parser("infer", help="run a build in deferred mode: placeholders at once, real outputs from the daemon")
    i.add_argument("command", nargs=argparse.REMAINDER, help="the build command, e.g. make -j64 or ninja")
    i.set_defaults(func=cmd_infer)

    m = sub.add_parser("masquerade", help="print a directory of compiler and archiver names that run through ggcc "
                                          "(for CMAKE_AR=DIR/ar and the like; ggcc infer puts it first on PATH)")
    m.set_defaults(func=cmd_masquerade)

    d = sub.add_parser("daemon", help="the background forcer: start, stop, status")
    d.add_argument("action", choices=["start", "stop", "status", "run"],
                   help="run: serve in the foreground (what start launches)")
    d.set_defaults(func=cmd_daemon)

    w = sub.add_parser("worker", help="run thunks from the Redis queue on this machine (a build farm member)")
    w.add_argument("--storage", default=None, metavar="URI",
                   help="redis://host:port/db: the queue and the shared store (default: GGCC_STORAGE)")
    w.add_argument("--jobs", type=int, default=0, help="thunks at once (default: the number of cores)")
    w.add_argument("--strict", action="store_true", help="run every thunk in the strict sandbox")
    w.add_argument("--name", default="", help="the worker's name in `ggcc workers` (default: host-pid)")
    w.set_defaults(func=cmd_worker)

    ws = sub.add_parser("workers", help="list the live workers of a Redis queue and their load")
    ws.add_argument("--storage", default=None, metavar="URI", help="redis://host:port/db (default: GGCC_STORAGE)")
    ws.add_argument("--json", action="store_true")
    ws.set_defaults(func=cmd_workers)

    cm = sub.add_parser("cmake", help="run cmake with ggcc as compiler and linker launcher (probes stay local); "
                                      "--print-init-cache / --print-preset for calling cmake yourself; "
                                      "--compile-only first: no linker launchers",
                        usage="ggcc cmake [--compile-only] [--print-init-cache | --print-preset | CMAKE_ARGS...]",
                        description="Run cmake with ggcc as the compiler and linker launcher and as the\n"
                                    "archiver (bin/ggcc-ar, bin/ggcc-ranlib); try_compile probes stay local.\n"
                                    "Every other word is cmake's.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="ggcc's own options, first on the line:\n"
                               "  --compile-only      compiler launchers only: links run as without ggcc\n"
                               "  --print-init-cache  print a cmake -C script with these settings, for calling "
                               "cmake yourself\n"
                               "  --print-preset      print the same as a CMakePresets.json fragment\n")
    cm.add_argument("args", nargs=argparse.REMAINDER, help="cmake's arguments")
    cm.set_defaults(func=cmd_cmake)
    for tool in ("ninja", "make"):
        bt = sub.add_parser(tool, help=f"run {tool} with a -j that fits the engine, the daemon warm, and a summary")
        bt.add_argument("args", nargs=argparse.REMAINDER, help=f"{tool}'s arguments")
        bt.set_defaults(func=cmd_build_tool, tool=tool)

    lam = sub.add_parser("lambda", help="the AWS Lambda function: deploy, status, remove, policy")
    lsub = lam.add_subparsers(dest="action", metavar="ACTION", required=True)
    ld = lsub.add_parser("deploy", help="build the function's zip from this ggcc and create or update the function")
    ld.add_argument("--name", default=os.environ.get("GGCC_LAMBDA_FUNCTION") or "ggcc", help="function name (default: ggcc)")
    ld.add_argument("--memory", type=int, default=3008, metavar="MB", help="memory, which also buys CPU (default: 3008)")
    ld.add_argument("--timeout", type=int, default=300, metavar="S", help="seconds per invocation (default: 300)")
    ld.add_argument("--tmp", type=int, default=4096, metavar="MB", help="ephemeral /tmp for the blob cache (default: 4096)")
    ld.add_argument("--role", default="", metavar="ARN", help=f"execution role (default: the role {DEFAULT_ROLE_NAME!r})")
    ld.add_argument("--create-role", action="store_true", help=f"create or update {DEFAULT_ROLE_NAME!r} with the minimal policy")
    ld.add_argument("--storage", default=None, metavar="URI", help="the shared storage the role may use (default: GGCC_STORAGE)")
    ld.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable of the function (e.g. GGCC_SANDBOX=strict)")
    ld.add_argument("--region", default=None)
    ls = lsub.add_parser("status", help="the function's state and whether its code is this ggcc's")
    ls.add_argument("--name", default=os.environ.get("GGCC_LAMBDA_FUNCTION") or "ggcc")
    ls.add_argument("--region", default=None)
    ls.add_argument("--json", action="store_true")
    lr = lsub.add_parser("remove", help="delete the function")
    lr.add_argument("--name", default=os.environ.get("GGCC_LAMBDA_FUNCTION") or "ggcc")
    lr.add_argument("--region", default=None)
    lr.add_argument("--role", action="store_true", help=f"delete the role {DEFAULT_ROLE_NAME!r} too")
    lp = lsub.add_parser("policy", help="print the minimal IAM policy for the function's role")
    lp.add_argument("--storage", default=None, metavar="URI", help="s3://bucket/prefix (default: GGCC_STORAGE)")
    lam.set_defaults(func=cmd_lambda)

    dr = sub.add_parser("doctor", help="check the set-up: settings, GGCC_DIR, each compiler (a real compile through "
                        "ggcc), the daemon, the shared store, the engine, bubblewrap; exit 1 if anything fails")
    dr.add_argument("--json", action="store_true", help="as JSON")
    dr.set_defaults(func=cmd_doctor)

    cf = sub.add_parser("config", help="every setting's value and where it came from (environment, config file, "
                        "default); exit 1 if one is wrong")
    cf.add_argument("name", nargs="?", help="print only this setting's value (e.g. max_size or GGCC_MAX_SIZE)")
    cf.add_argument("--json", action="store_true", help="as JSON")
    cf.add_argument("--markdown", action="store_true", help="every setting, its default and meaning, as a Markdown "
                    "table (docs/settings.md)")
    cf.set_defaults(func=cmd_config)

    v = sub.add_parser("version", help="print the version")
    v.set_defaults(func=cmd_version)
    return p


def cmd_cmake(a: argparse.Namespace) -> int:
    from ggcc.cmake.configure import main as cmake_main

    return cmake_main(list(a.args))


def cmd_build_tool(a: argparse.Namespace) -> int:
    from ggcc.ninja.run import main as tool_main

    return tool_main(a.tool, list(a.args))


DEFAULT_ROLE_NAME = "ggcc-lambda"


def cmd_lambda(a: argparse.Namespace) -> int:
    import json

    from ggcc.aws import deploy
    from ggcc.storage import storage_uri

    if a.action == "policy":
        print(json.dumps(deploy.policy_document(a.storage or storage_uri()), indent=2))
        return 0
    if a.action == "deploy":
        uri = a.storage or storage_uri()
        if a.create_role and not uri.startswith("s3://"):
            raise GgccError("ggcc lambda deploy --create-role: give --storage s3://bucket/prefix (or set GGCC_STORAGE), "
                            "so that the role can be limited to it")
        env = []
        for kv in a.env:
            k, eq, v = kv.partition("=")
            if not eq or not k:
                raise GgccError(f"--env {kv!r}: expected NAME=VALUE")
            env.append((k, v))
        settings = deploy.Settings(a.name, a.memory, a.timeout, a.tmp, a.role, tuple(env), a.region)
        deploy.deploy(settings, uri, a.create_role)
        return 0
    if a.action == "status":
        cfg = deploy.status(a.name, a.region)
        if a.json:
            print(json.dumps(cfg, indent=2, sort_keys=True, default=str))
            return 0
        print(f"{cfg.get('FunctionName')}: {cfg.get('State')}, last update {cfg.get('LastUpdateStatus')}, "
              f"{cfg.get('MemorySize')} MB, {cfg.get('Timeout')} s, {cfg.get('EphemeralStorage', {}).get('Size')} MB /tmp, "
              f"{(cfg.get('Architectures') or ['x86_64'])[0]}")
        print("code: this ggcc's" if cfg["CodeIsCurrent"] else "code: differs from this ggcc's: run `ggcc lambda deploy`")
        return 0
    deploy.remove(a.name, a.region, a.role)
    print(f"removed {a.name}")
    return 0


def cmd_worker(a: argparse.Namespace) -> int:
    from ggcc.storage import storage_uri
    from ggcc.workers.worker import main as worker_main

    return worker_main(a.storage or storage_uri(), config.ggcc_dir(), a.jobs or config.default_jobs(), a.strict, a.name)


def cmd_workers(a: argparse.Namespace) -> int:
    import json

    from ggcc.storage import storage_uri
    from ggcc.storage.redis_backend import RedisBackend
    from ggcc.storage.uri import open_backend
    from ggcc.workers.queue import Queue

    uri = a.storage or storage_uri()
    backend = open_backend(uri) if uri.startswith(("redis://", "rediss://")) else None
    if not isinstance(backend, RedisBackend):
        raise GgccError("ggcc workers: give --storage redis://host:port/db (or set GGCC_STORAGE)")
    q = Queue(backend.client(timeout_s=5))
    try:
        live = q.live_workers()
        backlog = q.backlog()
    except Exception as e:
        raise GgccError(f"{backend.describe()}: {type(e).__name__}: {e}") from None
    if a.json:
        print(json.dumps({"workers": live, "backlog": backlog}, indent=2, sort_keys=True))
        return 0
    print(f"{len(live)} live workers on {backend.describe()}, {backlog} thunks queued or running")
    for w in live:
        print(f"  {w.get('name')}: {w.get('running')}/{w.get('jobs')} running, {w.get('done')} done "
              f"(pid {w.get('pid')} on {w.get('host')})")
    return 0


# The commands that run builds or thunks: a wrong setting stops them before they start.
_USES_SETTINGS = frozenset({cmd_cmake, cmd_build_tool, cmd_infer, cmd_force, cmd_worker})


def main(argv: Sequence[str]) -> int:
    from ggcc import config_file

    config_file.merge(os.environ)  # the config file's settings, for this command and everything it runs
    parser = build_parser()
    argv = list(argv)
    if not argv:
        sys.stderr.write("ggcc: no command: `ggcc gcc -c x.c` compiles through ggcc; `ggcc --help` says more\n")
        return 2
    if argv[:1] == ["help"]:
        argv = argv[1:] + ["--help"]
    if argv[:1] in (["cmake"], ["ninja"], ["make"]) and argv[1:2] != ["--help"]:
        # Every word after the tool's name is the tool's, dashes included
        # (argparse would take `-G` or `--version` for its own).
        a = argparse.Namespace(func=cmd_cmake if argv[0] == "cmake" else cmd_build_tool, tool=argv[0], args=argv[1:])
    else:
        a = parser.parse_args(argv)
    if not getattr(a, "func", None):
        parser.print_help()
        return 2
    try:
        if a.func in _USES_SETTINGS:
            from ggcc import settings

            bad = settings.problems(os.environ)
            if bad:  # refused here, where the user is looking, not in each compile's output
                for line in bad:
                    sys.stderr.write(f"ggcc: error: {line}\n")
                return 2
        return int(a.func(a))
    except GgccError as e:
        sys.stderr.write(f"ggcc: error: {e.message}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("ggcc: interrupted\n")
        return 130
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        sys.stderr.write(f"ggcc: error: {where}{e.strerror or e}\n")
        return 2
    except Exception as e:  # never a traceback for the user; GGCC_DEBUG=1 for one
        if os.environ.get("GGCC_DEBUG") == "1":
            raise
        text = " ".join(str(e).split()) or "no message"
        sys.stderr.write(f"ggcc: error: {type(e).__name__}: {text} (GGCC_DEBUG=1 shows where)\n")
        return 2
