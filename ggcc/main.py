"""The ``ggcc`` entry point: dispatch before importing anything heavy.

``ggcc <subcommand> ...`` goes to the CLI (argparse and friends);
``ggcc <compiler> ...`` goes to the launcher, whose path must stay lean
because it runs once per compile.
"""

import sys

SUBCOMMANDS = frozenset({"thunk", "force", "show", "cat", "cache", "stats", "version", "help", "daemon", "infer", "masquerade", "worker", "workers", "lambda", "cmake", "ninja", "make", "config"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # `ggcc ggcc gcc ...`: a launcher set twice (CC="ggcc gcc" and CMake's
    # launcher too) compiles once, like ccache does.
    while args and args[0].rpartition("/")[2] == "ggcc":
        args = args[1:]
    if not args or args[0] in SUBCOMMANDS or args[0].startswith("-"):
        ensure_site()
        from ggcc import cli

        return cli.main(args)
    # Anything else is a compiler: `ggcc gcc -c x.c`, `ggcc /usr/bin/cc ...`.
    from ggcc.client import main as launch

    return launch(args)


def ensure_site() -> None:
    """Set up site's paths (ggcc's dependencies, .pth files) if bin/ggcc
    started Python without them: only the launcher's hot path goes without."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


if __name__ == "__main__":
    sys.exit(main())
