"""The compiler's environment as a thunk must reproduce it: the locale of
its messages, the colour of its diagnostics, the working directory it
records, and what in the environment a thunk does not model."""

from __future__ import annotations

import os

# Environment variables that change what the compiler reads or writes in
# ways a thunk does not model: with any of them set, compile locally.
UNMODELLED_ENV = (
    "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
    "COMPILER_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG",
)


# clang options that make it start other programs (an external assembler,
# a separate cc1): those would not run through the shipped loader.
CLANG_OUT_OF_PROCESS = frozenset({"-fno-integrated-as", "-no-integrated-as", "-fno-integrated-cc1", "-save-temps"})


_COLOR_FLAGS = ("-fdiagnostics-color", "-fno-diagnostics-color", "-fcolor-diagnostics", "-fno-color-diagnostics")


def color_flag(family: str, args: tuple[str, ...], env: dict[str, str], stderr_columns: str) -> str:
    """The flag that makes the sandboxed compiler color its diagnostics as
    the real one would on this terminal, or "" (no terminal, or the user
    chose). In the sandbox stderr is a pipe, so "auto" would mean never;
    the flag changes no output file (DWARF does not record it)."""
    if not stderr_columns or any(a.startswith(_COLOR_FLAGS) for a in args):
        return ""
    term = env.get("TERM", "")
    if family == "clang":
        # LLVM's terminalHasColors: a TERM it knows as colourful.
        known = ("ansi", "cygwin", "linux", "screen", "xterm", "vt100", "rxvt", "tmux")
        return "-fcolor-diagnostics" if term.startswith(known) or "color" in term else ""
    if not term or term == "dumb" or env.get("GCC_COLORS") == "":
        return ""
    return "-fdiagnostics-color=always"


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


def logical_cwd(physical: str, env: dict[str, str]) -> str:
    """$PWD when it names the directory ``physical`` (gcc records it so),
    else ``physical``."""
    pwd = env.get("PWD")
    if pwd and os.path.isabs(pwd):
        try:
            a, b = os.stat(pwd), os.stat(physical)
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                return os.path.normpath(pwd)
        except OSError:
            pass
    return physical
