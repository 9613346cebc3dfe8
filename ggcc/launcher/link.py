"""Links as thunks: ``ggcc gcc a.o b.o -o prog -lm`` runs ld in a sandbox
(``ggcc ld ...`` too: then the arguments are ld's already).

The driver is asked what it would run (``gcc -###``): for a link that is
one command, collect2 (gcc) or ld itself (clang), whose arguments are ld's.
ggcc runs ld directly with them, through ld's own loader and libraries,
minus the LTO plugin options (without LTO objects the plugin claims
nothing, and its -fresolution file name is random). Paths ld reads get the
root in front; strings ld records in the output (-dynamic-linker, -rpath,
-soname) are left alone; ``--sysroot=ROOT`` makes linker scripts such as
libc.so, which name absolute paths, resolve inside the tree.

The files ld reads come from ld's own trace (``-t``) on the host, run once
per command (driver, arguments, working directory) and remembered with the
ld command; later links check each file with a stat (the hash cache) and
build the thunk without starting the driver or ld. A library that appears
in an earlier search directory after the trace is not noticed (no negative
lookups yet); ``ggcc cache clear`` forgets traces.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from ggcc.launcher.request import Local

# ld's options with a value, by what the value is. SEPARATE: the value is
# the next word; JOINED: written in the same word after these prefixes.
# "string": recorded in the output as is (never rooted); "read": a file ld
# reads; "write": the output; "dir": a search directory; "path": another
# path (rooted, not an input); "value": anything else.
_SEPARATE = {
    **dict.fromkeys(("-dynamic-linker", "--dynamic-linker", "-rpath", "--rpath", "-soname", "--soname", "-h"), "string"),
    **dict.fromkeys(("-T", "--script", "--version-script", "--dynamic-list"), "read"),
    **dict.fromkeys(("-o", "--output"), "write"),
    **dict.fromkeys(("-L", "--library-path", "-rpath-link", "--rpath-link"), "dir"),
    **dict.fromkeys(("-m", "-z", "-e", "-u", "--entry", "--undefined", "-y", "--hash-style", "-a", "-A", "--defsym",
                     "--wrap", "-O", "-G", "-Y", "--section-start", "-Ttext", "-Tdata", "-Tbss"), "value"),
}
_JOINED = (  # first match wins: -Ttext= before -T
    ("-rpath=", "string"), ("--rpath=", "string"), ("-soname=", "string"), ("--soname=", "string"),
    ("-dynamic-linker=", "string"), ("--dynamic-linker=", "string"),
    ("-Ttext", "value"), ("-Tdata", "value"), ("-Tbss", "value"),
    ("--version-script=", "read"), ("--dynamic-list=", "read"), ("--script=", "read"), ("-T", "read"),
    ("--output=", "write"),
    ("--library-path=", "dir"), ("-rpath-link=", "dir"), ("--rpath-link=", "dir"), ("-L", "dir"),
    ("--sysroot=", "path"),
)
_ROOTED = frozenset({"read", "write", "dir", "path", "operand"})

# ld options ggcc does not model: another output file, or plugins.
_LD_UNMODELLED = ("-Map", "--Map", "--dependency-file", "--out-implib", "-plugin", "--plugin", "-R", "--just-symbols",
                  "--print-map", "-M", "--trace", "-t", "--verbose", "-v", "--version")
# Driver options that make a link something ggcc does not model.
_DRIVER_UNMODELLED = ("-flto", "-fuse-ld", "-ffat-lto", "-fuse-linker-plugin", "-save-temps", "-###", "-v",
                      "--version", "-print", "-dump", "@", "-fprofile-", "--coverage", "-Wl,@", "-Xlinker")
_NOT_LINK = frozenset({"-c", "-S", "-E", "-M", "-MM", "-fsyntax-only"})
_LD_UNMODELLED_ENV = ("LD_RUN_PATH", "GCC_EXEC_PREFIX", "COMPILER_PATH")

FORMAT = 1


def looks_like_link(args: list[str]) -> bool:
    """No compile-only option and at least one file operand."""
    return not any(a in _NOT_LINK for a in args) and any(not a.startswith("-") for a in args)


@dataclass(frozen=True)
class LdCommand:
    ld: str  # the ld the driver would start, as it would name it
    args: tuple[str, ...]  # ld's arguments, plugin options removed
    output: str  # as ld names it (relative to cwd, or absolute)


def unmodelled(args: list[str], env: dict[str, str]) -> str:
    """Why ggcc cannot run this link as a thunk, or ""."""
    for a in args:
        if a.startswith(_DRIVER_UNMODELLED) or (a.startswith("-Wl,") and _ld_flag_unmodelled(a[4:].split(","))):
            return "link-option:" + a.split("=")[0].split(",")[0][:40]
    return unmodelled_env(env)


def unmodelled_env(env: dict[str, str]) -> str:
    for var in _LD_UNMODELLED_ENV:
        if env.get(var):
            return f"env:{var}"
    return ""


def _ld_flag_unmodelled(flags: list[str]) -> bool:
    return any(f.split("=")[0] in _LD_UNMODELLED for f in flags)


def ld_command(driver: str, args: list[str], cwd: str, env: dict[str, str]) -> LdCommand | Local:
    """What the driver would run for this link (from -###)."""
    try:
        p = subprocess.run([driver, *args, "-###"], cwd=cwd, env=dict(env, LC_ALL="C"), capture_output=True,
                           text=True, errors="surrogateescape", timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return Local("link-driver-failed")
    if p.returncode != 0:
        return Local("link-driver-failed")
    commands = [split_command(line) for line in p.stderr.splitlines() if line.startswith(" ")]
    if len(commands) != 1:
        return Local("compile-and-link")
    cmd = commands[0]
    name = os.path.basename(cmd[0])
    if name == "collect2":
        ld = shutil.which("ld", path=env.get("PATH", os.defpath))
        if ld is None:
            return Local("link-no-ld")
    elif is_ld(name):
        ld = cmd[0]
    else:
        return Local(f"linker:{name}")
    return _ld_args(ld, cmd[1:], from_driver=True)


def is_ld(name: str) -> bool:
    """GNU ld (bfd) called by name: `ggcc ld ...`, a linker launcher."""
    base = os.path.basename(name)
    return base in ("ld", "ld.bfd") or base.endswith(("-ld", "-ld.bfd"))


def direct_ld_command(ld: str, args: list[str]) -> LdCommand | Local:
    """ld called directly: its arguments are the command (no driver to ask)."""
    return _ld_args(ld, args, from_driver=False)


def _ld_args(ld: str, args: list[str], from_driver: bool) -> LdCommand | Local:
    """ld's arguments as the thunk runs them, or why it cannot.

    From a driver, its LTO plugin options are dropped (without LTO objects
    the plugin claims nothing, and its -fresolution name is random); given
    to ld directly they are the user's, and refused like the other options
    ggcc does not model. A joined ``-oFILE`` (or ``-Wl,-oFILE`` through a
    driver) is refused too: the argument mapping would not root it, and a
    thunk must never write where it was not told to."""
    out: list[str] = []
    output = "a.out"
    i = 0
    while i < len(args):
        a = args[i]
        if from_driver and a == "-plugin":
            i += 2
            continue
        if from_driver and a.startswith("-plugin-opt"):
            i += 1
            continue
        if a.startswith("@"):
            return Local("response-file")
        if a.split("=")[0] in _LD_UNMODELLED:
            return Local("link-option:" + a.split("=")[0])
        if a.startswith("-o") and a != "-o":
            return Local("link-option:-o")
        if a in ("-o", "--output") and i + 1 < len(args):
            output = args[i + 1]
        elif a.startswith("--output="):
            output = a[len("--output="):]
        out.append(a)
        i += 1
    return LdCommand(ld, tuple(out), output)


def split_command(line: str) -> list[str]:
    """One command line as gcc and clang print it for -###: words, some in
    double quotes, where a backslash takes the next character as is (both
    escape \\, " and $; shlex would keep the backslash before $)."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        word: list[str] = []
        if line[i] == '"':
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                word.append(line[i])
                i += 1
            i += 1
        else:
            while i < n and line[i] != " ":
                word.append(line[i])
                i += 1
        words.append("".join(word))
    return words


def trace(cmd: LdCommand, cwd: str) -> list[str] | Local:
    """The files ld opens for this command, as it names them (-t), from a
    run on the host into a scratch output."""
    with tempfile.TemporaryDirectory(prefix="ggcc-ld-") as tmp:
        args = list(cmd.args)
        for k, a in enumerate(args):
            if a == "-o":
                args[k + 1] = os.path.join(tmp, "out")
            elif a.startswith("--output="):
                args[k] = "--output=" + os.path.join(tmp, "out")
        try:
            p = subprocess.run([cmd.ld, *args, "-t"], cwd=cwd, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
                               capture_output=True, text=True, errors="surrogateescape", timeout=600,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return Local("link-trace-failed")
    if p.returncode != 0:
        for a in cmd.args:
            if a.endswith(".a") and _archive_holds_placeholders(os.path.join(cwd, a)):
                # ggcc infer, with an archiver that did not go through ggcc.
                return Local("archive-of-placeholders")
        return Local("link-failed-rerun")  # the real driver says why
    files: list[str] = named_files(cmd, cwd)  # -t leaves out version scripts and dynamic lists
    for line in p.stdout.splitlines():
        path = line.strip()
        if path.endswith(")") and "(" in path and not os.path.isfile(os.path.join(cwd, path)):
            path = path[:path.index("(")]  # an archive member: the archive is the input
        if path and os.path.isfile(os.path.join(cwd, path)) and path not in files:
            files.append(path)
    return files + [lib for lib in _needed_by_shared(files, cwd) if lib not in files]


def _needed_by_shared(files: list[str], cwd: str) -> list[str]:
    """What the shared libraries among ``files`` need (libgreet.so -> libstdc++.so.6):
    ld reads them to check those libraries' symbols, and -t does not say so."""
    from ggcc.dependency_scan.elf import needed_closure

    shared = [os.path.join(cwd, f) for f in files if ".so" in os.path.basename(f) and _is_elf(os.path.join(cwd, f))]
    return needed_closure(shared) if shared else []


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _classify(args: tuple[str, ...]) -> list[tuple[list[str], str, str]]:
    """ld's arguments as (words, kind, value): an option with its value,
    an operand ("operand"), or a flag ("flag", no value)."""
    out: list[tuple[list[str], str, str]] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in _SEPARATE and i + 1 < len(args):
            out.append(([a, args[i + 1]], _SEPARATE[a], args[i + 1]))
            i += 2
            continue
        if not a.startswith("-"):
            out.append(([a], "operand", a))
        else:
            for prefix, kind in _JOINED:
                if a.startswith(prefix) and len(a) > len(prefix):
                    out.append(([a], kind, a[len(prefix):]))
                    break
            else:
                out.append(([a], "flag", ""))
        i += 1
    return out


def map_args(cmd: LdCommand) -> list[str]:
    """ld's arguments for the tree: read and written paths rooted, recorded strings kept."""
    from ggcc.dependency_scan.program import rooted

    out: list[str] = []
    for words, kind, value in _classify(cmd.args):
        if kind in _ROOTED:
            words = words[:-1] + [words[-1][:len(words[-1]) - len(value)] + rooted(value)]
        out += words
    return out


def _archive_holds_placeholders(path: str) -> bool:
    from ggcc.formats import placeholder

    try:
        with open(path, "rb") as f:
            return placeholder.MAGIC in f.read(1 << 20)
    except OSError:
        return False


def named_files(cmd: LdCommand, cwd: str) -> list[str]:
    """Files the command names that ld reads: operands and script options."""
    out: list[str] = []
    for _, kind, value in _classify(cmd.args):
        if kind in ("read", "operand") and os.path.isfile(os.path.join(cwd, value)) and value not in out:
            out.append(value)
    return out


def search_dirs(cmd: LdCommand) -> list[str]:
    """-L directories and -rpath-link ones, as ld names them."""
    return [value for _, kind, value in _classify(cmd.args) if kind == "dir"]


# -- remembered traces ---------------------------------------------------------
def record_key(driver_id: str, args: list[str], cwd: str, env: dict[str, str]) -> str:
    parts = [FORMAT, driver_id, args, cwd, env.get("LIBRARY_PATH", ""), env.get("PATH", "")]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def load_record(root: str, key: str) -> tuple[LdCommand, list[str]] | None:
    try:
        with open(_record_path(root, key), "rb") as f:
            obj = json.loads(f.read())
        return LdCommand(obj["ld"], tuple(obj["args"]), obj["output"]), list(obj["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_record(root: str, key: str, cmd: LdCommand, files: list[str]) -> None:
    from ggcc.base.fsutil import atomic_write_bytes

    path = _record_path(root, key)
    data = json.dumps({"ld": cmd.ld, "args": list(cmd.args), "output": cmd.output, "files": files}).encode()
    try:
        atomic_write_bytes(path, data, make_dirs=True)
    except OSError:
        pass  # an optimisation


def _record_path(root: str, key: str) -> str:
    return os.path.join(root, "links", key[:2], key)
