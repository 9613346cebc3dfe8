"""`ggcc infer`: the build runs ahead on placeholders, the daemon fills them
in, and the build ends exactly as the plain one would."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from debian_sources import build_outputs, zlib_outputs, zlib_plain_and_ours
from helpers import GGCC

from ggcc.formats import placeholder


def _env(store: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store), GGCC_SANDBOX="strict", **extra)


def _stats(store: Path) -> dict[str, object]:
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=_env(store), check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def _placeholders(tree: Path) -> list[str]:
    return [str(p) for p in tree.rglob("*") if p.is_file() and placeholder.is_placeholder(str(p))]


def test_zlib_infer_make(tmp_path: Path) -> None:
    """`ggcc infer make` with zlib's own configure: its shared-library link
    names gcc itself (LDSHARED), and its PIC objects are moved (`mv x.o
    x.lo`) while still placeholders; everything ends identical to plain."""
    plain, ours = zlib_plain_and_ours(tmp_path)
    store = tmp_path / "store"
    ggcc = " ".join(GGCC)
    p = subprocess.run(GGCC + ["infer", "make", "-j16", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"],
                       cwd=ours, capture_output=True, text=True, env=_env(store))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "deferred outputs" in p.stderr
    # Off a terminal, one line per deferred output as it ends, numbered.
    finished = int(re.search(r"ggcc infer: (\d+) deferred outputs", p.stderr).group(1))  # type: ignore[union-attr]
    lines = re.findall(r"^ggcc infer: \[(\d+)/(\d+)\] (built|hit|local|failed|moved) (\S+)$", p.stderr, re.M)
    assert finished > 30 and [int(n) for n, _, _, _ in lines] == list(range(1, finished + 1)), p.stderr[-3000:]
    assert int(lines[-1][1]) == finished and not any(k == "failed" for _, _, k, _ in lines)
    want = zlib_outputs(plain)
    got = zlib_outputs(ours)
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    assert _placeholders(ours) == []
    s = _stats(store)
    assert s["local_fallbacks"] == {}
    # Every compile counted, the moved ones too; none put back where it was
    # moved from.
    assert s["executed"] + s["cache_hits"] == s["invocations"] >= 43, s  # type: ignore[operator]
    assert list(ours.glob("objs/*.o")) == []
    subprocess.run(["make", "test"], cwd=ours, check=True, capture_output=True)
    # Warm: every object is a hit, ready a moment after its placeholder,
    # while make is moving the placeholder away (`mv objs/x.o x.lo`): the
    # object must follow the move, not reappear at objs/x.o.
    subprocess.run(["make", "clean"], cwd=ours, check=True, capture_output=True)
    p = subprocess.run(GGCC + ["infer", "make", "-j16", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"],
                       cwd=ours, capture_output=True, text=True, env=_env(store))
    assert p.returncode == 0, p.stderr[-3000:]
    got = zlib_outputs(ours)
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    assert list(ours.glob("objs/*.o")) == [] and _placeholders(ours) == []


def test_libuv_infer_ninja(tmp_path: Path, libuv_plain: tuple[Path, dict[str, bytes]]) -> None:
    store = tmp_path / "store"
    tree, want = libuv_plain
    build = tree / "build"
    # Configured by `ggcc cmake`, no flag of ours: it sets the archiver
    # (CMake runs it by a path) as well as the launchers.
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    subprocess.run(GGCC + ["cmake", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DLIBUV_BUILD_TESTS=ON", ".."],
                   cwd=build, check=True, capture_output=True, env=_env(store))
    assert "ggcc-ar" in (build / "CMakeCache.txt").read_text()
    p = subprocess.run(GGCC + ["infer", "ninja", "-j64"], cwd=build, capture_output=True, text=True, env=_env(store))
    assert p.returncode == 0, p.stderr[-3000:]
    got = build_outputs(build)
    assert len(want) > 400
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    assert _placeholders(build) == []
    assert _stats(store)["local_fallbacks"] == {}


def _small_project(d: Path, broken: bool = False) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "gen.c").write_text('#include <stdio.h>\nint main(void) { puts("#define GENERATED 42"); return 0; }\n')
    (d / "a.c").write_text('#include "gen.h"\nint a(void) { return GENERATED; }\n')
    # w.c takes a while to compile: its object is still a placeholder when ar runs.
    body = "".join(f"int w{i}(int x) {{ return x * {i} + (x >> {i % 7}); }}\n" for i in range(2000))
    (d / "w.c").write_text(body + "int w(int x) { int unused; return x; }\n")
    (d / "b.c").write_text("int b(void) { return missing_symbol; }\n" if broken else "int b(void) { return 2; }\n")
    (d / "main.c").write_text("int a(void); int b(void); int w(int);\nint main(void) { return a() + b() + w(0) - 44; }\n")
    # A generator built and run during the build: the link is real at once.
    (d / "Makefile").write_text(
        "CC ?= cc\n"
        "all: prog\n"
        "gen: gen.o\n\t$(CC) -o $@ gen.o\n"
        "gen.h: gen\n\t./gen > $@\n"
        "a.o: gen.h\n"
        "%.o: %.c\n\t$(CC) -O2 -Wall -c $< -o $@\n"
        "ARMODE ?= rc\n"
        "libab.a: a.o b.o w.o\n\t$(AR) $(ARMODE) $@ $^\n"
        "prog: main.o libab.a\n\t$(CC) -o $@ main.o libab.a\n"
    )


@pytest.mark.parametrize("armode", ["rc", "cru"])
def test_generator_and_archive_and_warnings(tmp_path: Path, armode: str) -> None:
    """With `cru`, ar runs for real (the u modifier is not modelled): the
    placeholders it names are made real before it reads them."""
    plain, ours = tmp_path / "plain", tmp_path / "ours"
    _small_project(plain)
    _small_project(ours)
    subprocess.run(["make", "CC=gcc", f"ARMODE={armode}"], cwd=plain, check=True, capture_output=True)
    ggcc = " ".join(GGCC)
    p = subprocess.run(GGCC + ["infer", "make", "-j8", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"ARMODE={armode}"], cwd=ours,
                       capture_output=True, text=True, env=_env(tmp_path / "store"))
    assert p.returncode == 0, p.stderr
    for f in ("gen", "gen.h", "a.o", "b.o", "w.o", "main.o", "libab.a", "prog"):
        assert (ours / f).read_bytes() == (plain / f).read_bytes(), f
    local = _stats(tmp_path / "store")["local_fallbacks"]
    assert local == ({"ar-unsupported-modifier": 1} if armode == "cru" else {}), local
    assert "w.o" in p.stderr and "unused variable" in p.stderr  # the warning, under its output
    assert subprocess.run([str(ours / "prog")]).returncode == 0


def test_a_build_logged_to_a_file_is_still_deferred_and_a_step_logged_elsewhere_is_not(tmp_path: Path) -> None:
    """`ggcc infer make > build.log` (as CI runs it, stderr to a pipe): the
    steps write where ggcc infer writes, so they are deferred and their
    warnings come once, in its report. A step whose messages the build
    sends to a file of its own (w.o's, here) runs now, so that file holds
    them as in plain."""
    plain, ours = tmp_path / "plain", tmp_path / "ours"
    for d in (plain, ours):
        _small_project(d)
        mk = (d / "Makefile").read_text()
        (d / "Makefile").write_text(mk + "w.o: w.c\n\t$(CC) -O2 -Wall -c w.c -o w.o 2> w.log\n")
    subprocess.run(["make", "CC=gcc"], cwd=plain, check=True, capture_output=True)
    ggcc = " ".join(GGCC)
    with open(tmp_path / "build.log", "w") as log:
        p = subprocess.run(GGCC + ["infer", "make", "-j4", f"CC={ggcc} gcc", f"AR={ggcc} ar"], cwd=ours, stdout=log,
                           stderr=subprocess.PIPE, text=True, env=_env(tmp_path / "store"))
    text = (tmp_path / "build.log").read_text() + p.stderr
    assert p.returncode == 0, text
    for f in ("a.o", "b.o", "w.o", "w.log", "libab.a", "prog"):
        assert (ours / f).read_bytes() == (plain / f).read_bytes(), f
    assert "unused variable" in (ours / "w.log").read_text() and "unused variable" not in text, text
    deferred = re.search(r"ggcc infer: (\d+) deferred outputs", text)
    assert deferred and int(deferred.group(1)) >= 3, text  # a.o, b.o, main.o at least


def test_a_live_panel_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, while outputs are still coming after the build, a
    rich live panel (done of total, in flight, hits, bytes) and no line per
    output; the summary after it."""
    import pty

    d = tmp_path / "p"
    _small_project(d)
    (d / "Makefile").write_text("all: libw.a\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\nlibw.a: w.o\n\t$(AR) rc $@ $^\n")
    ggcc = " ".join(GGCC)
    master, slave = pty.openpty()
    proc = subprocess.Popen(GGCC + ["infer", "make", f"CC={ggcc} gcc", f"AR={ggcc} ar"], cwd=d,
                            stdin=slave, stdout=slave, stderr=slave, env=_env(tmp_path / "store", TERM="xterm", COLUMNS="120"))
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out[-2000:]
    text = out.decode("utf-8", "replace")
    # make ended with w.o still compiling: the panel showed it in flight.
    assert "ggcc infer" in text and "in flight" in text and "KB written" in text, text[-2000:]
    assert re.search(r"ggcc infer: 2 deferred outputs", text), text[-2000:]
    assert not re.search(r"ggcc infer: \[\d+/\d+\]", text)  # no per-output lines on a terminal
    assert placeholder.is_placeholder(str(d / "w.o")) is False and (d / "libw.a").read_bytes()[:8] == b"!<arch>\n"


def test_a_failing_compile_fails_the_build_with_the_compilers_words(tmp_path: Path) -> None:
    d = tmp_path / "p"
    _small_project(d, broken=True)
    ggcc = " ".join(GGCC)
    p = subprocess.run(GGCC + ["infer", "make", "-k", "-j8", f"CC={ggcc} gcc", f"AR={ggcc} ar"], cwd=d,
                       capture_output=True, text=True, env=_env(tmp_path / "store"))
    assert p.returncode != 0
    assert "missing_symbol" in p.stderr and "undeclared" in p.stderr and "b.o: failed" in p.stderr
    assert _placeholders(d) == []  # nothing left that make would take as built
    assert not (d / "b.o").exists()


def test_daemon_killed_during_infer_the_build_still_ends_correct(tmp_path: Path) -> None:
    plain, ours = zlib_plain_and_ours(tmp_path)
    store = tmp_path / "store"
    env = _env(store)
    subprocess.run(GGCC + ["daemon", "start"], env=env, check=True, capture_output=True)
    pid = int((store / "daemon.pid").read_text())

    def kill_soon() -> None:
        # Kill it while compiles are deferred: once the first placeholders exist.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(ours.glob("*.o")):
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    ggcc = " ".join(GGCC)
    p = subprocess.run(GGCC + ["infer", "make", "-j16", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"],
                       cwd=ours, capture_output=True, text=True, env=env)
    killer.join()
    # The build may fail where a step met a placeholder the dead daemon
    # never filled; running it again (as a user would) must then finish it.
    if p.returncode != 0:
        p = subprocess.run(GGCC + ["infer", "make", "-j16", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"],
                           cwd=ours, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    want, got = zlib_outputs(plain), zlib_outputs(ours)
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    assert _placeholders(ours) == []


def _readers_project(d: Path) -> None:
    """Objects read by programs ggcc does not run, while still compiling:
    nm and ar by absolute path (as libtool's NM and CMake's CMAKE_AR), cp."""
    _small_project(d)
    (d / "Makefile").write_text(
        "all: syms.txt copy.o prog\n"
        "gen: gen.o\n\t$(CC) -o $@ gen.o\n"
        "gen.h: gen\n\t./gen > $@\n"
        "a.o: gen.h\n"
        "%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n"
        "syms.txt: w.o a.o\n\t/usr/bin/nm -B w.o a.o > $@\n"
        "copy.o: w.o\n\tcp w.o $@\n"
        "libab.a: a.o b.o w.o\n\t/usr/bin/ar rc $@ $^\n"
        "prog: main.o libab.a\n\t$(CC) -o $@ main.o libab.a\n"
    )


def test_programs_outside_ggcc_that_read_objects_wait_for_the_real_bytes(tmp_path: Path) -> None:
    plain, ours = tmp_path / "plain", tmp_path / "ours"
    _readers_project(plain)
    _readers_project(ours)
    subprocess.run(["make", "CC=gcc"], cwd=plain, check=True, capture_output=True)
    ggcc = " ".join(GGCC)
    p = subprocess.run(GGCC + ["infer", "make", f"CC={ggcc} gcc"], cwd=ours, capture_output=True, text=True,
                       env=_env(tmp_path / "store"))
    assert p.returncode == 0, p.stderr
    for f in ("a.o", "w.o", "copy.o", "syms.txt", "libab.a", "prog"):
        assert (ours / f).read_bytes() == (plain / f).read_bytes(), f
    assert re.search(r"programs that read placeholders waited for the real outputs: .*nm", p.stderr), p.stderr
    # -j as `ggcc make` picks it, and the command as it can be pasted back.
    assert re.search(r"^ggcc infer: running make -j\d+ 'CC=.* gcc'$", p.stderr, re.M), p.stderr


def test_a_reader_the_guard_cannot_reach_fails_the_build_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "peek.c").write_text('#include <stdio.h>\nint main(int c, char **v) { FILE *f = fopen(v[1], "r");\n'
                                     "  int ch; while (f && (ch = fgetc(f)) != EOF) putchar(ch); return !f; }\n")
    subprocess.run(["gcc", "-static", "-O2", "peek.c", "-o", "peek"], cwd=tmp_path, check=True)
    d = tmp_path / "p"
    _small_project(d)
    # peek.a: an archive written by hand (printf, a shell builtin) around the object as peek reads it.
    header = "printf '!<arch>\\n%-16s%-12s%-6s%-6s%-8s%-10s`\\n' w.o/ 0 0 0 644 100"
    (d / "Makefile").write_text(f"all: peek.txt peek.a\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n"
                                f"peek.txt: w.o\n\t{tmp_path}/peek w.o > $@\n"
                                f"peek.a: w.o\n\t{{ {header}; {tmp_path}/peek w.o; }} > $@\n")
    ggcc = " ".join(GGCC)
    p = subprocess.run(GGCC + ["infer", "make", f"CC={ggcc} gcc"], cwd=d, capture_output=True, text=True,
                       env=_env(tmp_path / "store"))
    assert p.returncode == 1, p.stderr
    assert re.search(r"^ggcc infer: w\.o: read by a program while it was still a placeholder", p.stderr, re.M), p.stderr
    assert re.search(r"^ggcc infer: peek\.a: an archive with a placeholder for a member", p.stderr, re.M), p.stderr


JQ_CONFIGURE = ["--without-oniguruma", "--disable-docs", "--disable-maintainer-mode"]


def _jq_artifacts(tree: Path) -> dict[str, bytes]:
    """jq's objects, archives, shared library, export list and programs."""
    out = {}
    for f in tree.rglob("*"):
        if f.is_file() and not f.is_symlink() and (f.suffix in (".o", ".a", ".exp", ".ver") or ".so" in f.name
                                                   or f.name == "jq"):
            out[str(f.relative_to(tree))] = f.read_bytes()
    return out


def _jq_in_deferred_mode(tmp_path: Path, runs: int) -> None:
    """jq: autotools and libtool, a library with -export-symbols-regex
    (libtool runs /usr/bin/nm, an absolute path, on the objects to write the
    export list). Configured with CC="ggcc gcc" as a user would; each run
    from an empty store, so what is still compiling when nm runs varies.
    Every artifact as plain, and as many warnings (libtool sends its second
    compile's to /dev/null)."""
    from debian_sources import copy_of

    tree = copy_of("jq", tmp_path)
    subprocess.run(["autoreconf", "-fi"], cwd=tree, check=True, capture_output=True)
    subprocess.run(["./configure", *JQ_CONFIGURE], cwd=tree, check=True, capture_output=True)
    p = subprocess.run(["make", "-j2"], cwd=tree, check=True, capture_output=True, text=True)
    want, warnings = _jq_artifacts(tree), p.stderr.count("warning:")
    assert len(want) > 40 and ".libs/libjq.exp" in want and warnings > 50
    subprocess.run(["make", "distclean"], cwd=tree, check=True, capture_output=True)
    ggcc = str(Path(sys.executable).parent / "ggcc")  # the command, as users name it in CC
    subprocess.run(["./configure", *JQ_CONFIGURE, f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"],
                   cwd=tree, check=True, capture_output=True, env=_env(tmp_path / "configure-store"))
    for run in range(runs):
        subprocess.run(["make", "clean"], cwd=tree, check=True, capture_output=True)
        store = tmp_path / f"store-{run}"
        p = subprocess.run(GGCC + ["infer", "make"], cwd=tree, capture_output=True, text=True, env=_env(store))
        assert p.returncode == 0, p.stderr[-3000:]
        got = _jq_artifacts(tree)
        assert sorted(n for n in want if got.get(n) != want[n]) == [], (run, p.stderr[-3000:])
        assert p.stderr.count("warning:") == warnings, run
        assert re.search(r"ggcc infer: 3\d deferred outputs", p.stderr), p.stderr[-2000:]
        subprocess.run(GGCC + ["daemon", "stop"], env=_env(store), capture_output=True)


def test_jq_libtool_export_symbols_in_deferred_mode(tmp_path: Path) -> None:
    _jq_in_deferred_mode(tmp_path, runs=2)


@pytest.mark.long
def test_jq_libtool_export_symbols_in_deferred_mode_five_times(tmp_path: Path) -> None:
    _jq_in_deferred_mode(tmp_path, runs=5)
