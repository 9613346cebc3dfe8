"""Links as thunks: executables and shared libraries byte-identical to the
plain driver's, ld's messages and exit codes too, whole projects included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from debian_sources import build_outputs, configure_libuv, zlib_outputs, zlib_plain_and_ours
from helpers import GGCC, cmake_launcher_flags
from ggcc.launcher.link import LdCommand, map_args, named_files, search_dirs



def _env(store: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, GGCC_DIR=str(store), GGCC_SANDBOX="strict", **extra)


def _stats(store: Path) -> dict[str, object]:
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=_env(store), check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def _same_link(argv: list[str], cwd: Path, store: Path, output: str) -> subprocess.CompletedProcess[bytes]:
    plain = subprocess.run(argv, cwd=cwd, capture_output=True)
    want = (cwd / output).read_bytes() if plain.returncode == 0 else None
    want_mode = (cwd / output).stat().st_mode if plain.returncode == 0 else None
    if (cwd / output).exists():
        (cwd / output).unlink()
    ours = subprocess.run(GGCC + argv, cwd=cwd, capture_output=True, env=_env(store))
    assert (ours.returncode, ours.stdout, ours.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    if want is not None:
        assert (cwd / output).read_bytes() == want
        assert (cwd / output).stat().st_mode == want_mode
    return ours


@pytest.fixture
def objs(tmp_path: Path) -> Path:
    (tmp_path / "main.c").write_text(
        '#include <math.h>\n#include <stdio.h>\nint twice(int);\n'
        'int main(int c, char **v) { printf("%d %f\\n", twice(c), sqrt((double)c)); return 0; }\n')
    (tmp_path / "lib.c").write_text("int twice(int x) { return 2 * x; }\n")
    (tmp_path / "warn.c").write_text("#include <stdio.h>\nint main(void) { char b[L_tmpnam]; return tmpnam(b) == 0; }\n")
    (tmp_path / "undef.c").write_text("int nowhere(void);\nint main(void) { return nowhere(); }\n")
    (tmp_path / "lib.map").write_text("{ global: twice; local: *; };\n")
    for src in ("main", "lib", "warn", "undef"):
        subprocess.run(["gcc", "-O2", "-fPIC", "-c", f"{src}.c"], cwd=tmp_path, check=True)
    return tmp_path


def test_executable_identical(objs: Path) -> None:
    store = objs / "store"
    _same_link(["gcc", "main.o", "lib.o", "-o", "prog", "-lm"], objs, store, "prog")
    _same_link(["gcc", "main.o", "lib.o", "-o", "prog", "-lm"], objs, store, "prog")  # the hit
    s = _stats(store)
    assert (s["executed"], s["cache_hits"], s["local_fallbacks"]) == (1, 1, {}), s
    assert subprocess.run([str(objs / "prog")], capture_output=True, text=True).stdout == "2 1.000000\n"


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_shared_library_with_soname_rpath_and_version_script(objs: Path, cc: str) -> None:
    store = objs / "store"
    argv = [cc, "-shared", "-Wl,-soname,libtw.so.1,--version-script,lib.map", f"-Wl,-rpath,{objs}",
            "-o", "libtw.so.1.0", "lib.o"]
    _same_link(argv, objs, store, "libtw.so.1.0")
    _same_link([cc, "main.o", "-o", "prog2", "-L.", "-l:libtw.so.1.0", "-lm", "-Wl,-rpath,$ORIGIN"], objs, store, "prog2")
    assert _stats(store)["local_fallbacks"] == {}


def test_linker_warnings_and_errors_are_the_real_ones(objs: Path) -> None:
    store = objs / "store"
    ours = _same_link(["gcc", "warn.o", "-o", "warn"], objs, store, "warn")
    assert b"dangerous" in ours.stderr  # glibc's link-time warning, printed as ld prints it
    ours = _same_link(["gcc", "undef.o", "-o", "undef"], objs, store, "undef")
    assert ours.returncode == 1 and b"undefined reference to `nowhere'" in ours.stderr


def test_lto_links_run_locally_with_a_reason(objs: Path) -> None:
    store = objs / "store"
    _same_link(["gcc", "-flto", "main.o", "lib.o", "-o", "prog", "-lm"], objs, store, "prog")
    assert _stats(store)["local_fallbacks"] == {"link-option:-flto": 1}


def test_ld_called_directly(objs: Path) -> None:
    """`ggcc ld ...` (a build that runs ld itself): its arguments are the
    command; relocatable, shared and dynamically linked outputs identical."""
    store = objs / "store"
    crt = {f: subprocess.run(["gcc", f"-print-file-name={f}"], capture_output=True, text=True, check=True).stdout.strip()
           for f in ("crt1.o", "crti.o", "crtn.o", "libc.so", "libm.so")}
    _same_link(["ld", "-r", "-o", "both.o", "main.o", "lib.o"], objs, store, "both.o")
    _same_link(["ld", "-shared", "-soname", "libtw.so.1", "--version-script=lib.map", "-o", "libtw.so", "lib.o"],
               objs, store, "libtw.so")
    _same_link(["ld", "-o", "prog", "-dynamic-linker", "/lib64/ld-linux-x86-64.so.2", crt["crt1.o"], crt["crti.o"],
                "both.o", crt["libm.so"], crt["libc.so"], crt["crtn.o"]], objs, store, "prog")
    assert subprocess.run([str(objs / "prog"), "x"], capture_output=True, text=True).stdout == "4 1.414214\n"
    s = _stats(store)
    assert (s["executed"], s["local_fallbacks"]) == (3, {}), s
    # A joined -oFILE is not rooted by the mapping: ld runs here instead,
    # called directly or through the driver.
    _same_link(["ld", "-r", "-oboth2.o", "main.o", "lib.o"], objs, store, "both2.o")
    _same_link(["gcc", "main.o", "lib.o", "-lm", "-Wl,-oprog3"], objs, store, "prog3")
    assert _stats(store)["local_fallbacks"] == {"link-option:-o": 2}


def test_ld_arguments_for_the_tree() -> None:
    cmd = LdCommand("ld", ("-dynamic-linker", "/lib64/ld-linux-x86-64.so.2", "-rpath", "/opt/x", "-o", "/abs/out",
                           "/usr/lib/crt1.o", "a.o", "-L/usr/lib", "-L", "rel", "--version-script=/v.map", "-soname",
                           "libx.so.1", "-rpath=/keep", "-lm"), "/abs/out")
    assert map_args(cmd) == [
        "-dynamic-linker", "/lib64/ld-linux-x86-64.so.2", "-rpath", "/opt/x", "-o", "@@GGCC_ROOT@@/abs/out",
        "@@GGCC_ROOT@@/usr/lib/crt1.o", "a.o", "-L@@GGCC_ROOT@@/usr/lib", "-L", "rel",
        "--version-script=@@GGCC_ROOT@@/v.map", "-soname", "libx.so.1", "-rpath=/keep", "-lm",
    ]
    assert search_dirs(cmd) == ["/usr/lib", "rel"]


def test_files_ld_reads_from_its_arguments(tmp_path: Path) -> None:
    for name in ("a.o", "s.ld", "v.map", "libx.so.1", "out"):
        (tmp_path / name).write_text("")
    cmd = LdCommand("ld", ("-soname", "libx.so.1", "-o", "out", "a.o", "-Ts.ld", "--version-script", "v.map",
                           "-m", "elf_x86_64", "-Ttext", "0x1000", "missing.o"), "out")
    # The soname's and the output's words are not inputs, though files by those names exist.
    assert named_files(cmd, str(tmp_path)) == ["a.o", "s.ld", "v.map"]


def test_zlib_configure_and_make_through_ggcc(tmp_path: Path) -> None:
    """zlib's own ./configure and make with CC="ggcc gcc" (and ar, ranlib):
    every object, archive, shared library and executable identical; its
    tests pass on the ggcc build; a rebuild is all cache hits."""
    plain, ours = zlib_plain_and_ours(tmp_path)
    store = tmp_path / "store"
    ggcc = " ".join(GGCC)
    make = ["make", "-j2", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"]
    subprocess.run(make, cwd=ours, check=True, capture_output=True, env=_env(store))
    want = zlib_outputs(plain)
    assert len(want) >= 40 and "libz.so.1.2.13" in want and "minigzipsh" in want
    got = zlib_outputs(ours)
    assert sorted(n for n in want if got.get(n) != want[n]) == []
    s = _stats(store)
    assert s["local_fallbacks"] == {} and s["executed"] == s["invocations"], s
    subprocess.run(["make", "test"], cwd=ours, check=True, capture_output=True, env=_env(store))
    subprocess.run(["make", "clean"], cwd=ours, check=True, capture_output=True)
    subprocess.run(["./configure"], cwd=ours, check=True, capture_output=True)
    subprocess.run(make, cwd=ours, check=True, capture_output=True, env=_env(store))
    assert zlib_outputs(ours) == want
    s2 = _stats(store)
    assert s2["cache_hits"] == s["executed"] and s2["executed"] == s["executed"], s2


def _kill_daemon_midway(store: Path, build: Path, killed: threading.Event) -> None:
    """SIGKILL the daemon once a quarter of libuv's objects exist."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if len(list(build.rglob("*.o"))) >= 110 and (store / "daemon.pid").exists():
            os.kill(int((store / "daemon.pid").read_text()), signal.SIGKILL)
            killed.set()
            return
        time.sleep(0.1)


def test_libuv_cmake_ninja_with_compiler_and_linker_launchers(tmp_path: Path,
                                                              libuv_plain: tuple[Path, dict[str, bytes]]) -> None:
    """libuv with its tests, CMake + Ninja, through CMAKE_<LANG>_COMPILER_LAUNCHER
    and CMAKE_<LANG>_LINKER_LAUNCHER (wait mode), the daemon killed with
    SIGKILL a quarter of the way: every object, archive, shared library and
    executable identical; its test runner passes tests."""
    store = tmp_path / "store"
    tree, want = libuv_plain
    build = tree / "build"  # the plain build's path: debug info records it
    configure_libuv(build, cmake_launcher_flags(), _env(store))
    killed = threading.Event()
    killer = threading.Thread(target=_kill_daemon_midway, args=(store, build, killed))
    killer.start()
    subprocess.run(["ninja", "-j4"], cwd=build, check=True, capture_output=True, env=_env(store))
    killer.join()
    assert killed.is_set()
    got = build_outputs(build)
    assert len(want) > 400 and any(n.startswith("libuv.so") for n in want) and "uv_run_tests_a" in want
    assert sorted(want) == sorted(got)
    assert sorted(n for n in want if got[n] != want[n]) == []
    s = _stats(store)
    # Compiles in flight when the daemon died were asked again of a new one.
    assert set(s["local_fallbacks"]) <= {"daemon-unavailable"}, s  # type: ignore[arg-type]
    # libuv's runner refuses root: run the ggcc-built binary as nobody.
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        runner = Path(d) / "uv_run_tests_a"
        shutil.copy2(build / "uv_run_tests_a", runner)
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
        for test in ("platform_output", "loop_update_time", "timer", "fs_file_noent", "threadpool_queue_work_simple",
                     "tcp_ping_pong", "pipe_ping_pong", "fs_event_watch_file"):
            p = subprocess.run([*as_nobody, str(runner), test], cwd=d, capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, (test, p.stdout[-2000:], p.stderr[-2000:])
