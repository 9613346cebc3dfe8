"""``ggcc <compiler> <args>``: one compile as a hermetic, cached thunk.

The flow: parse the command; anything ggcc does not handle runs the real
compiler (exec, the reason counted). Otherwise: the toolchain's files, the
header closure and the user's depfile from a -M scan, a thunk with every
input at its host path under the sandbox root, forced on the local engine
(a cache hit runs nothing), the object written atomically, stdout, stderr
and the exit code replayed byte for byte.

Never a broken build: a thunk that fails, for any reason, is followed by
the real compiler run locally, whose result is then by definition the
plain compiler's; any unexpected error does the same.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ggcc import config, stats
from ggcc.launcher.args import Compile, Local, parse

if TYPE_CHECKING:  # the hot path imports these only when it needs them
    from ggcc.local_store import LocalStore
    from ggcc.result import Result
    from ggcc.thunk import Thunk

# Environment variables that change what the compiler reads or writes in
# ways a thunk does not model: with any of them set, compile locally.
_UNMODELLED_ENV = (
    "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
    "COMPILER_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG",
)


# clang options that make it start other programs (an external assembler,
# a separate cc1): those would not run through the shipped loader.
_CLANG_OUT_OF_PROCESS = frozenset({"-fno-integrated-as", "-no-integrated-as", "-fno-integrated-cc1", "-save-temps"})


def main(argv: list[str]) -> int:
    """argv: the compiler as the user named it, then its arguments."""
    env = compiler_env()
    compiler = resolve_compiler(argv[0], env)
    if compiler is None:
        sys.stderr.write(f"ggcc: {argv[0]}: not found\n")
        return 127
    if os.environ.get("GGCC_DISABLE") == "1":
        return exec_local(compiler, argv, env)
    root = config.ggcc_dir()
    from ggcc.launcher.archive import is_archiver

    step = archive_as_thunk if is_archiver(argv[0]) else compile_as_thunk
    try:
        outcome = step(compiler, argv, env, root)
    except Exception as e:  # never let ggcc break a build
        stats.record(root, "invocation", f"error {type(e).__name__}", "local internal-error")
        return exec_local(compiler, argv, env)
    if isinstance(outcome, Local):
        stats.record(root, "invocation", f"local {outcome.reason}")
        return exec_local(compiler, argv, env)
    return outcome


def compile_as_thunk(compiler: str, argv: list[str], env: dict[str, str], root: str) -> int | Local:
    parsed = parse(argv[1:])
    if isinstance(parsed, Local):
        return parsed
    for var in _UNMODELLED_ENV:
        if env.get(var):
            return Local(f"env:{var}")
    locale = thunk_locale(env)
    if locale is None:
        return Local("translated-diagnostics")
    if parsed.natives and records_flags(parsed.args):
        # gcc's own expansion of -march=native puts --param options among the
        # -m flags; given explicitly they land after -O, and DW_AT_producer
        # records that order. Without debug info nothing records it.
        return Local("march-native-with-debug-info")
    cwd = logical_cwd()
    if not os.access(os.path.join(cwd, parsed.source), os.R_OK):
        return Local("unreadable-source")

    from ggcc.dependency_scan import toolchain
    from ggcc.dependency_scan.program import tree_path
    from ggcc.errors import GgccError
    from ggcc.hash_cache import HashCache
    from ggcc.launcher import manifest
    from ggcc.launcher.compile_thunk import build_thunk, diagnostic_columns
    from ggcc.storage import open_store

    store = open_store(root)
    hashes = HashCache(root)
    driver = os.path.realpath(compiler)
    try:
        tc = toolchain.load_or_capture(driver, compiler, store, hashes)
        natives: tuple[str, ...] = ()
        if parsed.natives:
            natives = toolchain.with_native(tc, driver, compiler, tuple(parsed.args[i] for i in parsed.natives), store)
    except GgccError:
        return Local("toolchain-capture-failed")
    if tc.family == "clang" and any(a in _CLANG_OUT_OF_PROCESS for a in parsed.args):
        return Local("clang-external-tools")
    key = manifest.key([
        1, sorted(f.id for f in tc.files), list(parsed.args), parsed.output, list(parsed.deps.targets),
        parsed.deps.kind, parsed.deps.file, parsed.deps.phony, parsed.deps.missing_ok, cwd, locale,
        env.get("SOURCE_DATE_EPOCH", ""), diagnostic_columns(env), list(natives),
    ])
    hit = manifest.lookup(root, key, cwd, hashes, store)
    if hit is not None:
        result = store.get_result(hit.thunk_id)
        if hit.depfile_id and not store.has(hit.depfile_id):
            fetch = getattr(store, "fetch_blob", None)
            if fetch is not None:
                fetch(hit.depfile_id)
        if result is not None and (not hit.depfile_id or store.has(hit.depfile_id)):
            _write_back(result, parsed, cwd, store, hit.depfile_id, "")
            stats.record(root, "invocation", "hit", "direct")
            return 0
    from ggcc.dependency_scan import headers

    stats.record(root, "scan")
    try:
        scan = headers.scan(compiler, parsed, cwd, env)
    except headers.ScanFailed:
        return Local("scan-failed")
    try:
        thunk = build_thunk(tc, parsed, cwd, scan.files, natives, locale, env, store, hashes)
        outcome = _force(thunk, store)
        if isinstance(outcome, Local):
            return outcome
        result, was_hit = outcome
        depfile_id = store.put_file(scan.depfile_tmp) if scan.depfile_tmp else ""
        _write_back(result, parsed, cwd, store, "", scan.depfile_tmp)
        stats.record(root, "invocation", "hit" if was_hit else "executed")
        by_tree = {i.path: i.ref for i in thunk.inputs}  # hashed once, in build_thunk
        files = tuple((p, by_tree[tree_path(os.path.join(cwd, p))]) for p in scan.files)
        absent = tuple(manifest.absent_candidates(list(scan.files), list(scan.search_dirs), cwd))
        push = getattr(store, "push_blobs", None)
        if push is not None and depfile_id:
            try:
                push([depfile_id])
            except Exception:
                pass  # the shared store is an optimisation
        manifest.record(root, key, manifest.Entry(files, absent, thunk.id, depfile_id), store)
        return 0
    finally:
        if scan.depfile_tmp and os.path.exists(scan.depfile_tmp):
            os.unlink(scan.depfile_tmp)


def archive_as_thunk(tool: str, argv: list[str], env: dict[str, str], root: str) -> int | Local:
    """ar r/q and ranlib as thunks; the archive comes back byte-identical."""
    from ggcc.dependency_scan.program import load_or_capture, rooted, tree_path
    from ggcc.errors import GgccError
    from ggcc.hash_cache import HashCache
    from ggcc.launcher import archive
    from ggcc.storage import open_store
    from ggcc.thunk import Input, Output, Thunk

    cmd = archive.parse(argv[0], argv[1:])
    if isinstance(cmd, Local):
        return cmd
    if thunk_locale(env) is None:
        return Local("translated-diagnostics")
    cwd = logical_cwd()
    host_archive = os.path.join(cwd, cmd.archive)
    members = [os.path.join(cwd, m) for m in cmd.members]
    if any(not os.path.isfile(m) for m in members):
        return Local("missing-member")  # the tool says which, in its words
    store = open_store(root)
    hashes = HashCache(root)
    try:
        rt = load_or_capture(os.path.realpath(tool), tool, store, hashes)
    except GgccError:
        return Local("toolchain-capture-failed")
    inputs = {f.tree_path: Input(f.tree_path, f.id, f.executable) for f in rt.files}
    for host in members + ([host_archive] if os.path.isfile(host_archive) else []):
        tp = tree_path(host)
        inputs[tp] = Input(tp, store.put_file(host, hashes.file_id(host)))
    program = inputs.pop(rt.loader_tree)
    args = rt.command_prefix(tree_path(tool)) + list(cmd.flags) + [rooted(cmd.archive)] + [rooted(m) for m in cmd.members]
    thunk = Thunk.make(program, args, {"LC_ALL": "C"}, list(inputs.values()),
                       [Output("archive", tree_path(host_archive))], cwd=tree_path(cwd) or ".")
    outcome = _force(thunk, store)
    if isinstance(outcome, Local):
        return outcome
    result, was_hit = outcome
    _deliver(result, "archive", host_archive, store)
    stats.record(root, "invocation", "hit" if was_hit else "executed")
    return 0


def _force(thunk: Thunk, store: LocalStore) -> tuple[Result, bool] | Local:
    """(result, whether it was a cache hit), or Local if the thunk failed."""
    from ggcc.engines.local import LocalEngine
    from ggcc.scheduler import force

    store.put_thunk(thunk)
    engine = LocalEngine(store, 1, strict=os.environ.get("GGCC_SANDBOX") == "strict")
    try:
        report = force([thunk.id], store, engine, known={thunk.id: thunk})
    finally:
        engine.shutdown()
    if not report.ok:
        f = report.failures[0]
        failed_run = f.result is not None and not f.result.error
        if not failed_run:  # ggcc's fault, not the code's: keep why
            stats.record(store.root, f"error sandbox: {f.message}")
        return Local("compile-failed-rerun" if failed_run else "sandbox-failure")
    result = store.get_result(thunk.id)
    if result is None:
        return Local("result-vanished")
    return result, bool(report.hits)


def _write_back(result: Result, parsed: Compile, cwd: str, store: LocalStore, depfile_id: str, depfile_tmp: str) -> None:
    """Object and depfile into place atomically, then stdout and stderr."""
    from ggcc.fsutil import atomic_write_bytes, umask
    from ggcc.launcher.compile_thunk import OBJECT_TAG

    mode = 0o666 & ~umask()
    if depfile_tmp:
        os.chmod(depfile_tmp, mode)
        os.replace(depfile_tmp, os.path.join(cwd, parsed.deps.file))
    elif depfile_id:
        atomic_write_bytes(os.path.join(cwd, parsed.deps.file), store.read_bytes(depfile_id), mode)
    _deliver(result, OBJECT_TAG, os.path.join(cwd, parsed.output), store)


def _deliver(result: Result, tag: str, dest: str, store: LocalStore) -> None:
    """An output into place atomically, then the run's stdout and stderr."""
    from ggcc.fsutil import atomic_copy, umask
    from ggcc.thunk import ROOT_TOKEN

    atomic_copy(store.path_for_use(result.output(tag).ref, False), dest, 0o666 & ~umask())
    # The tree stands for the host's "/", so the root token is nothing.
    token = ROOT_TOKEN.encode()
    sys.stdout.buffer.write(result.stdout.replace(token, b""))
    sys.stdout.flush()
    sys.stderr.buffer.write(result.stderr.replace(token, b""))
    sys.stderr.flush()

def exec_local(compiler: str, argv: list[str], env: dict[str, str]) -> int:
    """Replace this process with the real compiler: its output is the answer."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(compiler, argv, env)
    except OSError as e:
        sys.stderr.write(f"ggcc: {argv[0]}: {e.strerror}\n")
        return 126
    return 127  # not reached


def resolve_compiler(name: str, env: dict[str, str]) -> str | None:
    if "/" in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for d in env.get("PATH", os.defpath).split(os.pathsep):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK) and os.path.realpath(p) != me:
            return p
    return None


def compiler_env() -> dict[str, str]:
    """The environment the compiler would have had without ggcc in between.

    Python coerces the C locale (PEP 538) by exporting LC_CTYPE=C.UTF-8,
    which would turn gcc's ASCII quotes into UTF-8 ones: undo that.
    """
    env = dict(os.environ)
    if (
        env.get("LC_CTYPE") == "C.UTF-8"
        and not env.get("LC_ALL")
        and env.get("LANG", "C") in ("", "C", "POSIX")
    ):
        del env["LC_CTYPE"]
    return env


def thunk_locale(env: dict[str, str]) -> str | None:
    """LC_ALL for the thunk: what makes gcc print the same characters.

    gcc's diagnostics depend on the codeset (UTF-8 quotes or ASCII ones)
    and on the message language. English or C messages with a UTF-8 codeset
    are reproduced with the built-in C.UTF-8 locale; translated messages
    need catalogs the sandbox does not have: None (compile locally).
    """
    def pick(*names: str) -> str:
        for n in names:
            v = env.get(n)
            if v:
                return v
        return "C"

    ctype = pick("LC_ALL", "LC_CTYPE", "LANG")
    messages = pick("LC_ALL", "LC_MESSAGES", "LANG")
    lang = messages.split(".")[0].split("@")[0]
    if lang not in ("C", "POSIX") and not lang.startswith("en"):
        return None
    codeset = ctype.partition(".")[2].split("@")[0].lower().replace("-", "")
    return "C.UTF-8" if codeset == "utf8" else "C"


def records_flags(args: tuple[str, ...]) -> bool:
    """Whether the object will record the command's flags (DWARF producer,
    .GCC.command.line)."""
    debug = False
    for a in args:
        if a == "-frecord-gcc-switches":
            return True
        if a == "-g0":
            debug = False
        elif a == "-g" or a.startswith(("-ggdb", "-gdwarf", "-g1", "-g2", "-g3", "-gstabs", "-gbtf", "-gctf")):
            debug = True
    return debug


def logical_cwd() -> str:
    """$PWD when it names the current directory (gcc records it so), else getcwd()."""
    pwd = os.environ.get("PWD")
    if pwd and os.path.isabs(pwd):
        try:
            a, b = os.stat(pwd), os.stat(".")
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                return os.path.normpath(pwd)
        except OSError:
            pass
    return os.getcwd()


