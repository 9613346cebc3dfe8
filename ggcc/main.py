"""The ``ggcc`` entry point: dispatch before importing anything heavy.

``ggcc <subcommand> ...`` goes to the CLI (argparse and friends);
``ggcc <compiler> ...`` goes to the launcher, whose path must stay lean
because it runs once per compile.
"""

import posix
import sys

from ggcc import ensure_site
from ggcc.client import native

SUBCOMMANDS = frozenset({"thunk", "force", "show", "cat", "cache", "stats", "version", "help", "daemon", "infer", "masquerade", "worker", "workers", "lambda", "cmake", "ninja", "make", "config", "doctor"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Set by ggcc-client when it hands a compile to this launcher: not to
    # be handed back, nor seen by the compiler or the daemon.
    from_native = posix.environ.pop(native.HANDED_BACK.encode(), None) is not None
    if from_native:
        posix.unsetenv(native.HANDED_BACK)
        if "os" in sys.modules:  # imported by site, before this: its copy too
            sys.modules["os"].environ.pop(native.HANDED_BACK, None)
    # `ggcc ggcc gcc ...`: a launcher set twice (CC="ggcc gcc" and CMake's
    # launcher too) compiles once, like ccache does.
    while args and args[0].rpartition("/")[2] == "ggcc":
        args = args[1:]
    if not args or args[0] in SUBCOMMANDS or args[0].startswith("-"):
        ensure_site()
        from ggcc.commands import cli

        return cli.main(args)
    miss = near_miss(args[0])
    if miss:
        sys.stderr.write(f"ggcc: {args[0]!r} is not a ggcc command (did you mean `ggcc {miss}`?); to run a program "
                         f"of that name through ggcc, give its path (ggcc ./{args[0]} or ggcc /usr/bin/{args[0]})\n")
        return 2
    # Anything else is a compiler: `ggcc gcc -c x.c`, `ggcc /usr/bin/cc ...`,
    # the native client's if there is one (`python -m ggcc gcc ...`).
    client = None if from_native else native.find()
    if client:
        try:
            posix.execv(client, [client, *args])
        except OSError:
            pass  # not runnable after all: the Python launcher does it
    from ggcc.client.launch import main as launch

    return launch(args)


# What compilers and their wrappers are called end like this (x86_64-linux-gnu-gcc-12, clang++-15, nvcc):
_COMPILER_ENDS = ("cc", "c++", "++", "gcc", "clang", "ld", "ar", "ranlib", "as")
_WRAPPERS = frozenset({"ccache", "sccache", "distcc", "icecc", "buildcache", "colorgcc"})


def near_miss(word: str) -> str:
    """The subcommand ``word`` looks like a typo of (`ggcc stat`,
    `ggcc doctr`), or "": then it is run as a compiler. A path, or a name
    that reads like a compiler's, is always run (whatever a wrapper is
    called, its path gets it run)."""
    if "/" in word or word in _WRAPPERS or word.rstrip("0123456789.-").endswith(_COMPILER_ENDS):
        return ""
    import difflib

    close = difflib.get_close_matches(word, sorted(SUBCOMMANDS), n=1, cutoff=0.7)
    return close[0] if close else ""


if __name__ == "__main__":
    sys.exit(main())
