"""Build-system probes: the compiles a configure step makes to learn what
the compiler and the system can do.

A probe gains nothing from a thunk: its source is written a moment before
and thrown away after, so it is never asked for twice, and what it costs
through ggcc (a scan, a sandbox, a record, compiling it again when the
next probe rewrites the file) is all overhead. Autoconf's, CMake's and
meson's are known by their names and go to the real compiler at once, in
the launcher, counted as ``configure-probe``; the daemon never hears of
them, so it never watches them either. A hand-written configure's are
not known by name: they are known by their parent, a shell running a
script named configure (a probe's compiler is run by it or by a subshell
of it, which has the same command line), or else, by the daemon, by
behaviour (one path rewritten as its last compile ends: launcher/rewrites.py).

This module imports nothing: the launcher's client uses it on every
compile.
"""

_SHELLS = (b"sh", b"bash", b"dash", b"ksh", b"zsh", b"busybox", b"perl")
_CONFIGURE = (b"configure", b"Configure")

# Where autoconf, libtool, CMake and meson put their probes.
_PROBE_DIRS = (b"/CMakeFiles/CMakeScratch/", b"/CMakeFiles/CMakeTmp/", b"/CompilerIdC/", b"/CompilerIdCXX/",
               b"/meson-private/")
_PROBE_NAMES = (b"conftest",)  # conftest.c, conftest.cpp, conftest.o, conftest2.o, conftest.dir/...


def is_probe(argv: "list[bytes]", cwd: bytes) -> bool:
    """Whether the compiler command ``argv`` (run in ``cwd``) is a
    configure probe by its files' names."""
    where = cwd + b"/"
    if any(d in where for d in _PROBE_DIRS):
        return True
    for a in argv[1:]:
        if a[:1] == b"-":
            continue
        if a.rpartition(b"/")[2].startswith(_PROBE_NAMES) or any(d in a for d in _PROBE_DIRS):
            return True
    return False


def run_by_configure(parent_cmdline: bytes) -> bool:
    """Whether the process whose /proc/PID/cmdline is ``parent_cmdline``
    is a configure script: `/bin/sh ./configure ...`, `bash ../configure`,
    `perl ./Configure` (a script run by its #! line looks the same)."""
    argv = parent_cmdline.split(b"\0")
    if len(argv) < 2:
        return False
    return argv[0].rpartition(b"/")[2] in _SHELLS and argv[1].rpartition(b"/")[2] in _CONFIGURE
