"""ggcc's command line: the parser, the small commands, and dispatch to the
modules beside this one (thunks.py, cache.py, farm.py, infer.py, ...).

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

from ggcc import __version__
from ggcc.base import config
from ggcc.base.errors import GgccError
from ggcc.base.settings import ENGINES
from ggcc.commands.cache import cmd_cache, cmd_stats
from ggcc.commands.farm import DEFAULT_ROLE_NAME, cmd_lambda, cmd_worker, cmd_workers
from ggcc.commands.thunks import cmd_cat, cmd_force, cmd_show, cmd_thunk


def cmd_config(a: argparse.Namespace) -> int:
    from ggcc.base import config_file, settings
    from ggcc.commands import settings_report

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
    from ggcc.commands import doctor

    checks = doctor.run(os.environ)
    if a.json:
        print(json.dumps([{"mark": c.mark, "what": c.what, "detail": c.detail, "fix": c.fix} for c in checks],
                         indent=2))
    else:
        sys.stdout.write(doctor.render(checks))
    return 1 if any(c.mark == doctor.FAIL for c in checks) else 0


def cmd_daemon(a: argparse.Namespace) -> int:
    from ggcc.client import launch

    root = config.ggcc_dir()
    if a.action == "run":
        from ggcc.daemon import server as daemon

        return daemon.run(root)
    if a.action == "start":
        if not launch.start(root, launch.compiler_env(), retry_now=True):
            raise GgccError(f"the daemon for {root} did not start; see {os.path.join(root, 'daemon.log')}")
        reply = launch.ask(root, [b"status"])
        print(reply[1].decode() if reply else "started", end="")
        return 0
    reply = launch.ask(root, [{"stop": b"stop", "sync": b"sync"}.get(a.action, b"status")])
    if reply is None:
        print(f"no daemon serves {root}")
        return 0 if a.action in ("stop", "sync") else 1
    if a.action == "sync":
        print("filed")
        return 0
    if a.action == "stop":
        # Wait until it has let go of its lock: then a new one can start.
        deadline = time.monotonic() + 60
        while launch.daemon_alive(root) and time.monotonic() < deadline:
            time.sleep(0.02)
        print("stopped")
        return 0
    print(reply[1].decode(), end="")
    return 0


def cmd_infer(a: argparse.Namespace) -> int:
    from ggcc.commands import infer

    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    return infer.main(command)


def cmd_masquerade(a: argparse.Namespace) -> int:
    from ggcc.commands import infer

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
    f.add_argument("--engine", default="", choices=ENGINES,
                   help="where thunks run: here, or on `ggcc worker`s through the Redis of GGCC_STORAGE "
                        "(default: GGCC_ENGINE, else local)")
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

    d = sub.add_parser("daemon", help="the background forcer: start, stop, status, sync")
    d.add_argument("action", choices=["start", "stop", "status", "sync", "run"],
                   help="sync: wait until what it ran is filed in the store and pushed to the shared one (before a "
                        "CI machine stops); run: serve in the foreground (what start launches)")
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
    from ggcc.commands.cmake import main as cmake_main

    return cmake_main(list(a.args))


def cmd_build_tool(a: argparse.Namespace) -> int:
    from ggcc.commands.ninja import main as tool_main

    return tool_main(a.tool, list(a.args))


# The commands that run builds or thunks: a wrong setting stops them before they start.
_USES_SETTINGS = frozenset({cmd_cmake, cmd_build_tool, cmd_infer, cmd_force, cmd_worker})


def main(argv: Sequence[str]) -> int:
    from ggcc.base import config_file

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
            from ggcc.base import settings

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
