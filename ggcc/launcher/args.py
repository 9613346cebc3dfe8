"""Parsing a gcc/clang command line: a cacheable compile, or a local run and why.

The C family core shared by gcc and clang (sccache's layout): one table of
options that take an argument, a few sets of options ggcc must refuse, and
a walk over argv that keeps every argument in order. Pure functions only:
the launcher does the I/O.

A command becomes a thunk only if it compiles exactly one source (C, C++,
or assembler) with ``-c`` to one object, and every option is understood.
Everything else runs the real compiler locally, with a short reason that
``ggcc stats`` counts.
"""

from __future__ import annotations

import functools

from ggcc.formats.compile import Compile, DepOptions
from ggcc.launcher.request import Local

# Languages by source suffix (gcc's table, the parts ggcc handles).
_SUFFIX_LANG = {
    ".c": "c",
    ".i": "cpp-output",
    ".cc": "c++",
    ".cp": "c++",
    ".cxx": "c++",
    ".cpp": "c++",
    ".CPP": "c++",
    ".c++": "c++",
    ".C": "c++",
    ".ii": "c++-cpp-output",
    ".S": "assembler-with-cpp",
    ".sx": "assembler-with-cpp",
    ".s": "assembler",
}
_X_LANGS = {"c", "c++", "assembler-with-cpp", "assembler", "cpp-output", "c++-cpp-output", "c-header", "c++-header", "none"}

# Options whose argument may be the next word (or joined: -Ifoo, -ofoo).
_TAKES_ARG = {
    "-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem", "-iquote", "-idirafter",
    "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-imultilib", "-isysroot",
    "-MF", "-MT", "-MQ", "-x", "-Xpreprocessor", "-Xassembler", "-Xlinker", "-L", "-l",
    "-T", "-u", "-z", "-aux-info", "--param", "-wrapper", "-B", "-target", "-arch",
    "-Xclang", "-dumpbase", "-dumpdir", "-dumpbase-ext", "-G", "-e",
}
# Of those, the ones whose argument is a path that must exist in the sandbox.
PATH_OPTIONS = {"-I", "-include", "-imacros", "-isystem", "-iquote", "-idirafter"}
INCLUDE_DIR_OPTIONS = {"-I", "-isystem", "-iquote", "-idirafter"}

# Options that read or write files ggcc does not model, or change the
# toolchain under it: run locally, named by the option.
_LOCAL_EXACT = {
    "-E": "preprocess-only",
    "-S": "assembly-output",
    "-M": "dependencies-only",
    "-MM": "dependencies-only",
    "-save-temps": "save-temps",
    "-gsplit-dwarf": "split-dwarf",
    "--coverage": "coverage",
    "-fprofile-arcs": "coverage",
    "-ftest-coverage": "coverage",
    "-fprofile-use": "profile-use",
    "-fprofile-generate": "profile-generate",
    "-fstack-usage": "extra-output",
    "-fcallgraph-info": "extra-output",
    "-aux-info": "extra-output",
    "-specs": "specs",
    "-B": "user-B-prefix",
    "--sysroot": "user-sysroot",
    "-isysroot": "user-sysroot",
    "-wrapper": "user-wrapper",
    "-iprefix": "include-prefix",
    "-iwithprefix": "include-prefix",
    "-iwithprefixbefore": "include-prefix",
    "-imultilib": "include-prefix",
    "-Xpreprocessor": "unknown-option",
    "-Xclang": "unknown-option",
    "-target": "cross-target",
    "-arch": "cross-target",
    "-pipe": "",  # harmless: the thunk runs without it (compile_thunk._map_args)
    "-###": "driver-query",
    "-v": "verbose",
}
_LOCAL_PREFIX = (
    ("-save-temps=", "save-temps"),
    ("-fprofile-use=", "profile-use"),
    ("-fprofile-generate=", "profile-generate"),
    ("-fprofile-dir=", "profile-generate"),
    ("-fauto-profile", "profile-use"),
    ("-fplugin", "plugin"),
    ("-fdump-", "extra-output"),
    ("-fopt-info", "extra-output"),
    ("-fcallgraph-info=", "extra-output"),
    ("-fsanitize-blacklist=", "reads-file"),
    ("-fsanitize-ignorelist=", "reads-file"),
    ("-fprofile-list=", "reads-file"),
    ("-fprofile-sample-use=", "profile-use"),
    ("-fprofile-instr-use", "profile-use"),
    ("-fprofile-instr-generate", "profile-generate"),
    ("-fcoverage-mapping", "coverage"),
    ("--sysroot=", "user-sysroot"),
    ("-specs=", "specs"),
    ("--specs=", "specs"),
    ("-print-", "driver-query"),
    ("-dump", "driver-query"),
    ("--target=", "cross-target"),
    ("-Wp,", "preprocessor-passthrough"),
    ("-Xassembler", "assembler-passthrough"),
    ("-Xlinker", "link"),
    ("-Wl,", ""),  # linker options on a -c compile are ignored by the driver
    ("-gsplit-dwarf", "split-dwarf"),
)
_LOCAL_PREFIXES = tuple(prefix for prefix, _ in _LOCAL_PREFIX)
# Prefixes of options that only change code generation or diagnostics.
_KNOWN_PREFIXES = (
    "-f", "-m", "-W", "-O", "-g", "-std=", "-ansi", "-pedantic", "-w", "-D", "-U", "-I",
    "-pthread", "-p", "-no-integrated-cpp", "-nostdinc", "-undef", "-trigraphs", "-traditional",
    "-C", "-CC", "-P", "-H", "-dD", "-dM", "-dN", "-dI", "-dU", "-static", "-shared", "-rdynamic",
    "-pie", "-no-pie", "-s", "-l", "-L", "-u", "-T", "-z", "-e", "-G", "-Q", "-x", "--param",
    "-integrated-as", "-no-integrated-as", "-nostdlib", "-nodefaultlibs", "-nostartfiles",
    "-Xassembler", "-Wa,",
)
# Debug/file prefix maps that must keep working when the tree moves.
PREFIX_MAP_OPTIONS = ("-ffile-prefix-map=", "-fdebug-prefix-map=", "-fmacro-prefix-map=", "-fprofile-prefix-map=")
NATIVE_OPTIONS = ("-march=native", "-mtune=native", "-mcpu=native")


@functools.lru_cache(maxsize=4096)
def parse_cached(argv: tuple[str, ...]) -> Compile | Local:
    """parse, remembered: a daemon sees the same command lines build after
    build (both answers are frozen, so sharing them is safe)."""
    return parse(list(argv))


def parse(argv: list[str]) -> Compile | Local:
    """Classify the compiler arguments (argv without the compiler itself)."""
    out: list[str] = []  # args kept for the compile (no dep options, no -o)
    sources: list[tuple[int, str, str]] = []
    output = ""
    has_c = False
    lang_x = ""
    deps_kind = ""
    dep_file = ""
    dep_targets: list[tuple[str, str]] = []
    phony = missing_ok = False
    include_dirs: list[str] = []
    path_args: list[tuple[int, str, str]] = []
    natives: list[int] = []
    i = 0
    n = len(argv)
    while i < n:
        a = argv[i]
        i += 1
        if a.startswith("@"):
            return Local("response-file")
        if a == "-" or (not a.startswith("-")):
            if a == "-":
                return Local("stdin-source")
            lang = lang_x if lang_x and lang_x != "none" else _SUFFIX_LANG.get(_suffix(a), "")
            if not lang:
                if a.endswith((".o", ".a", ".so")) or ".so." in a:
                    return Local("link")
                return Local("unsupported-language")
            sources.append((len(out), a, lang))
            out.append(a)
            continue
        # -- options ------------------------------------------------------
        if a == "-c":
            has_c = True
            out.append(a)
            continue
        if a in ("-MD", "-MMD"):
            deps_kind = a[1:]
            continue
        if a == "-MP":
            phony = True
            continue
        if a == "-MG":
            missing_ok = True
            continue
        opt, val, i, err = _split_arg(argv, a, i)
        if err:
            return Local(err)
        if opt in ("-MF", "-MT", "-MQ"):
            if opt == "-MF":
                dep_file = val
            else:
                dep_targets.append((opt, val))
            continue
        if opt == "-o":
            if output:
                return Local("multiple-outputs")
            if val == "-":
                return Local("stdout-output")
            output = val
            continue
        reason = _local_reason(a, opt)
        if reason:
            return Local(reason)
        if opt == "-x":
            if val not in _X_LANGS:
                return Local("unsupported-language")
            if val in ("c-header", "c++-header"):
                return Local("precompiled-header")
            lang_x = val
        if a in NATIVE_OPTIONS:
            natives.append(len(out))
        if any(a.startswith(p) for p in PREFIX_MAP_OPTIONS):
            pass  # handled when the command is mapped
        elif opt is None and not _known(a):
            return Local(f"unknown-option:{a.split('=')[0]}")
        if opt is not None:
            idx = len(out)
            if opt in PATH_OPTIONS:
                path_args.append((idx, opt, val))
            if opt in INCLUDE_DIR_OPTIONS:
                include_dirs.append(val)
            out.extend(_rejoin(argv, a, opt, val))
        else:
            out.append(a)
    if not has_c:
        return Local("not-compile-only")
    if not sources:
        return Local("no-source")
    if len(sources) > 1:
        return Local("multiple-sources")
    idx, source, lang = sources[0]
    if lang in ("cpp-output", "c++-cpp-output"):
        pass
    if not output:
        output = _basename_noext(source) + ".o"
    if deps_kind and not dep_file:
        dep_file = output.rsplit(".", 1)[0] + ".d" if "." in output.rsplit("/", 1)[-1] else output + ".d"
    deps = DepOptions(deps_kind, dep_file if deps_kind else "", tuple(dep_targets), phony, missing_ok)
    if (dep_targets or phony or dep_file) and not deps_kind:
        return Local("dependency-options-without-MD")
    return Compile(tuple(out), source, idx, output, lang, deps, tuple(include_dirs), tuple(path_args), tuple(natives))


def _split_arg(argv: list[str], a: str, i: int) -> tuple[str | None, str, int, str]:
    """(option, value, next index, error) for options that take an argument."""
    if a in _TAKES_ARG:
        if i >= len(argv):
            return None, "", i, "missing-argument"
        return a, argv[i], i + 1, ""
    for opt in ("-o", "-I", "-D", "-U", "-MF", "-MT", "-MQ", "-x", "-L", "-l", "-B", "-isystem", "-iquote", "-idirafter", "-include", "-imacros"):
        if a.startswith(opt) and len(a) > len(opt) and _joined_ok(opt, a):
            return opt, a[len(opt):], i, ""
    return None, "", i, ""


def _joined_ok(opt: str, a: str) -> bool:
    # "-include" must not be read as "-i" + "nclude"; among the options above
    # only the single-letter ones and -M* take joined values freely.
    if opt in ("-isystem", "-iquote", "-idirafter", "-include", "-imacros"):
        return True
    if opt in ("-MF", "-MT", "-MQ"):
        return True
    return len(opt) == 2


def _rejoin(argv: list[str], a: str, opt: str, val: str) -> list[str]:
    """The option as the user wrote it: joined stays joined, separate stays separate."""
    if a == opt:
        return [opt, val]
    return [a]


def _local_reason(a: str, opt: str | None) -> str:
    key = opt if opt is not None else a
    r = _LOCAL_EXACT.get(key)
    if r is None:
        r = _LOCAL_EXACT.get(a.split("=", 1)[0], None) if "=" in a else None
    if r is not None:
        return r
    if not a.startswith(_LOCAL_PREFIXES):  # one C-level test for the common case: none applies
        return ""
    for prefix, reason in _LOCAL_PREFIX:
        if a.startswith(prefix):
            return reason
    return ""


def _known(a: str) -> bool:
    return a.startswith(_KNOWN_PREFIXES)


def _suffix(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:] if dot > 0 else ""


def _basename_noext(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base
