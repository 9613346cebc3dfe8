"""The real projects of the suite: how each Debian source package is
configured, built and tested, as shell text.

Each step runs in the unpacked source tree with these variables set:
  CC CXX AR RANLIB   the tools: "gcc" ... for the plain build, "ggcc gcc" ...
                     for ggcc's (so configure bakes them into the Makefiles)
  CMAKE              "cmake", or "ggcc cmake" (launchers set; probes local)
  CMAKE_TOOLS        extra cmake flags: in deferred mode, CMAKE_AR/RANLIB from
                     `ggcc masquerade` (CMake runs ar by absolute path)
  BUILD              the build tool with -j: "make -j2", or "ggcc infer make -j2"
                     in deferred mode ("ninja"/"ggcc infer ninja" for
                     projects whose `tool` is ninja)
  JOBS               the -j number
The build step's outputs are compared; the test step runs after that, on
the wait-mode ggcc build only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Project:
    package: str  # Debian source package
    apt: tuple[str, ...]  # Debian packages the build and tests need
    configure: str
    build: str
    test: str
    tool: str = "make"  # what $BUILD runs: make or ninja


# libuv's runner refuses to run as root; these tests cover the loop, timers,
# files, threads, TCP, pipes and inotify, and pass on this kind of machine.
_LIBUV_TESTS = ("platform_output loop_update_time timer timer_again fs_file_noent fs_file_async "
                "threadpool_queue_work_simple tcp_ping_pong pipe_ping_pong fs_event_watch_file idle_starvation")

PROJECTS: dict[str, Project] = {p.package: p for p in (
    Project(
        package="zlib",
        apt=(),
        configure='./configure >/dev/null',
        build='$BUILD',
        test='make test',
    ),
    Project(
        # Debian's own recipe (debian/rules): libtool from debian/configure.ac,
        # the C and the C++ library, the interpreter and compiler linked
        # statically to them.
        package="lua5.4",
        apt=("libtool", "autoconf", "automake", "libreadline-dev"),
        configure=(
            'mkdir -p debian/libtool && cp debian/configure.ac debian/libtool/ && '
            '(cd debian/libtool && LIBTOOLIZE="libtoolize -i" autoreconf -f -i >/dev/null 2>&1 && '
            ' ./configure CC="$CC" CXX="$CXX" AR="$AR" RANLIB="$RANLIB" >/dev/null) && '
            'printf \'#ifndef _LUA_DEB_MULTIARCH_\\n#define _LUA_DEB_MULTIARCH_\\n'
            '#define DEB_HOST_MULTIARCH "%s"\\n#endif\\n\' "$(gcc -print-multiarch)" > src/lua5.4-deb-multiarch.h'),
        # The libraries first, on their own: src/Makefile makes both .la files
        # in one recipe written as a rule with two targets, so under -j make
        # may run it twice at once and the two libtools collide.
        build=('$BUILD -C src liblua5.4.la V=5.4 SYSCFLAGS="-DLUA_USE_LINUX -DLUA_USE_READLINE" '
               'LIBTOOL="$PWD/debian/libtool/libtool" CC="$CC -std=gnu99" CXX="$CXX" && '
               '$BUILD linux-readline LIBTOOL="$PWD/debian/libtool/libtool" CC="$CC -std=gnu99" CXX="$CXX"'),
        test=('make test LIBTOOL="$PWD/debian/libtool/libtool" && '
              'src/lua5.4 -e \'local t = {} for i = 1, 1000 do t[i] = i * i end '
              'assert(#t == 1000 and t[31] == 961 and string.format("%5.2f", math.pi) == " 3.14") '
              'assert(load("return 6 * 7")() == 42) print("lua ok")\''),
    ),
    Project(
        package="libuv1",
        apt=("cmake", "ninja-build"),
        # The compilers are the real ones: ggcc comes in as CMake's launcher.
        configure=('mkdir build && cd build && CC=gcc CXX=g++ $CMAKE -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLIBUV_BUILD_TESTS=ON '
                   '$CMAKE_TOOLS .. >/dev/null'),
        build='cd build && $BUILD',
        test=('d=$(mktemp -d) && chmod 777 "$d" && cp build/uv_run_tests_a "$d"/ && cd "$d" && '
              'for t in ' + _LIBUV_TESTS + '; do '
              '  if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups ./uv_run_tests_a $t; '
              '  else ./uv_run_tests_a $t; fi || exit 1; '
              'done'),
        tool="ninja",
    ),
    Project(
        # Debian's flags and options (debian/rules), without the amalgamation:
        # ~130 translation units through libtool.
        package="sqlite3",
        apt=("tcl8.6-dev", "libreadline-dev", "libtool", "autoconf", "automake"),
        configure=(
            'CFLAGS="-g -O2 -fno-strict-aliasing -DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA '
            '-DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_RTREE=1 -DSQLITE_SOUNDEX=1 '
            '-DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 '
            '-DSQLITE_ENABLE_LOAD_EXTENSION -DSQLITE_ENABLE_JSON1 -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI=1 '
            '-DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMTVTAB" '
            './configure --enable-threadsafe --enable-load-extension --enable-json --enable-fts4 --enable-fts5 '
            '--disable-amalgamation --disable-tcl CC="$CC" AR="$AR" RANLIB="$RANLIB" >/dev/null'),
        # sqlite3.h is made first: its Makefile lets ext/misc/stmt.c compile
        # while tclsh is still writing it (a race in any -j build).
        build='$BUILD sqlite3.h && $BUILD',
        test='make fuzztest',
    ),
    Project(
        package="curl",
        apt=("libssl-dev", "zlib1g-dev", "libnghttp2-dev", "perl", "python3"),
        configure=('./configure --with-openssl --without-libpsl --disable-ldap --without-librtmp '
                   'CC="$CC" AR="$AR" RANLIB="$RANLIB" >/dev/null'),
        build='$BUILD',
        # The test servers are built (through ggcc too), then a slice of curl's
        # own test cases that need only the curl tool and those servers.
        test='make -C tests/server -j$JOBS >/dev/null && cd tests && perl runtests.pl -a -n 1 to 60 !FTP !SMTP !POP3 !IMAP',
    ),
    Project(
        # C++ with protobuf (the generated code compiles through ggcc too).
        package="mosh",
        apt=("protobuf-compiler", "libprotobuf-dev", "pkg-config", "libutempter-dev", "zlib1g-dev",
             "libncurses-dev", "libssl-dev"),
        configure='./configure CC="$CC" CXX="$CXX" AR="$AR" RANLIB="$RANLIB" >/dev/null',
        build='$BUILD',
        # The unit tests (crypto, base64, nonces); the tmux-driven end-to-end
        # tests time out on a loaded 2-core machine, with ggcc or without.
        test=('make -j$JOBS check TESTS="ocb-aes encrypt-decrypt base64 nonce-incr" >/dev/null 2>&1 '
              '|| { cat src/tests/test-suite.log; exit 1; }'),
    ),
)}
