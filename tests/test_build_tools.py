"""`ggcc cmake`, `ggcc ninja`, `ggcc make`: a small CMake project (C and
C++, a static and a shared library, executables) built plainly and through
them, byte for byte; CMake's probes never go through ggcc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GGCC, ggcc_stats, stop_daemons

from ggcc.commands import cmake as configure
from ggcc.commands.ninja import has_jobs_flag

CMAKELISTS = """
cmake_minimum_required(VERSION 3.18)
project(demo C CXX)
include(CheckIncludeFile)
check_include_file(unistd.h HAVE_UNISTD_H)
add_library(shapes STATIC shapes.c)
add_library(greet SHARED greet.cpp)
add_executable(app main.c)
target_link_libraries(app shapes greet)
add_executable(tool tool.cpp)
target_link_libraries(tool greet)
"""
SOURCES = {
    "shapes.c": "int area(int w, int h) { return w * h; }\nint perimeter(int w, int h) { return 2 * (w + h); }\n",
    "greet.cpp": '#include <string>\nextern "C" int greet_len(const char *n) { return (int)(std::string("hello ") + n).size(); }\n',
    "main.c": "#include <stdio.h>\nint area(int, int); int greet_len(const char *);\n"
              'int main(void) { printf("%d %d\\n", area(3, 4), greet_len("you")); return 0; }\n',
    "tool.cpp": '#include <iostream>\nextern "C" int greet_len(const char *);\n'
                'int main() { std::cout << greet_len("tool") << "\\n"; return 0; }\n',
}
BUILT = ("CMakeFiles/shapes.dir/shapes.c.o", "CMakeFiles/greet.dir/greet.cpp.o", "CMakeFiles/app.dir/main.c.o",
         "CMakeFiles/tool.dir/tool.cpp.o", "libshapes.a", "libgreet.so", "app", "tool")


def _project(where: Path) -> Path:
    src = where / "src"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(CMAKELISTS)
    for name, text in SOURCES.items():
        (src / name).write_text(text)
    return src


def _outputs(build: Path) -> dict[str, bytes]:
    return {n: (build / n).read_bytes() for n in BUILT}


@pytest.mark.parametrize("generator,tool", [("Ninja", "ninja"), ("Unix Makefiles", "make")])
def test_ggcc_cmake_then_the_build_tool_gives_the_plain_bytes(tmp_path: Path, generator: str, tool: str) -> None:
    src = _project(tmp_path)
    # One build directory for both builds: executables record it (RUNPATH).
    ours = tmp_path / "build"
    subprocess.run(["cmake", "-G", generator, "-S", src, "-B", ours], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", ours], check=True, capture_output=True)
    want = _outputs(ours)
    shutil.rmtree(ours)
    store = tmp_path / "store"
    env = dict(os.environ, GGCC_DIR=str(store))
    try:
        conf = subprocess.run(GGCC + ["cmake", "-G", generator, "-S", str(src), "-B", str(ours)], env=env,
                              capture_output=True, text=True)
        assert conf.returncode == 0, conf.stderr
        assert ggcc_stats(store)["invocations"] == 0  # the probes ran the compiler directly
        cache = (ours / "CMakeCache.txt").read_text()
        assert "CMAKE_C_COMPILER_LAUNCHER:UNINITIALIZED=" in cache and "CMAKE_CXX_LINKER_LAUNCHER:UNINITIALIZED=" in cache
        # bin/ggcc's sh line done once at configure time: the native client beside it.
        venv_bin = Path(sys.executable).parent
        assert f"CMAKE_CXX_COMPILER_LAUNCHER:UNINITIALIZED={venv_bin}/ggcc-client\n" in cache
        run = subprocess.run(GGCC + [tool, "-C", str(ours)], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    finally:
        stop_daemons(tmp_path)
    assert _outputs(ours) == want
    assert f"ggcc: running {tool} -j{(os.cpu_count() or 1) + 2} -C" in run.stderr, run.stderr
    s = ggcc_stats(store)
    # 4 compiles, 3 links (the shared library and two executables), the archive steps.
    assert s["links"] == 3 and s["executed"] >= 7 and s["local_fallbacks"] == {}, s
    assert f"ggcc: {s['invocations']} steps: 0 cache hits, {s['executed']} run, 0 run without ggcc" in run.stderr, run.stderr


def test_init_cache_script_for_people_who_call_cmake(tmp_path: Path) -> None:
    src = _project(tmp_path)
    store = tmp_path / "store"
    env = dict(os.environ, GGCC_DIR=str(store))
    script = subprocess.run(GGCC + ["cmake", "--print-init-cache"], capture_output=True, text=True, check=True).stdout
    (tmp_path / "ggcc.cmake").write_text(script)
    build = tmp_path / "b"
    try:
        subprocess.run(["cmake", "-C", tmp_path / "ggcc.cmake", "-G", "Ninja", "-S", src, "-B", build], env=env,
                       check=True, capture_output=True)
        assert ggcc_stats(store)["invocations"] == 0
        subprocess.run(["ninja", "-C", build], env=env, check=True, capture_output=True)
    finally:
        stop_daemons(tmp_path)
    s = ggcc_stats(store)
    assert s["links"] == 3 and s["executed"] >= 7, s
    assert subprocess.run([build / "app"], capture_output=True, text=True, check=True).stdout == "12 9\n"


def test_compile_only_leaves_the_links_to_run_as_without_ggcc(tmp_path: Path) -> None:
    src = _project(tmp_path)
    store = tmp_path / "store"
    env = dict(os.environ, GGCC_DIR=str(store))
    script = subprocess.run(GGCC + ["cmake", "--compile-only", "--print-init-cache"], capture_output=True, text=True,
                            check=True).stdout
    assert "CMAKE_C_COMPILER_LAUNCHER" in script and "LINKER_LAUNCHER" not in script
    build = tmp_path / "b"
    try:
        subprocess.run(GGCC + ["cmake", "--compile-only", "-G", "Ninja", "-S", str(src), "-B", str(build)], env=env,
                       check=True, capture_output=True)
        cache = (build / "CMakeCache.txt").read_text()
        assert "CMAKE_CXX_COMPILER_LAUNCHER:UNINITIALIZED=" in cache and "LINKER_LAUNCHER" not in cache
        subprocess.run(["ninja", "-C", build], env=env, check=True, capture_output=True)
    finally:
        stop_daemons(tmp_path)
    s = ggcc_stats(store)
    assert s["links"] == 0 and s["executed"] == 4 and s["local_fallbacks"] == {}, s  # the 4 compiles, nothing else
    assert subprocess.run([build / "app"], capture_output=True, text=True, check=True).stdout == "12 9\n"


def test_ggcc_make_runs_cc_ggcc_gcc_through_the_native_client_without_sh(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text("int f(void) { return 1; }\n")
    (tmp_path / "Makefile").write_text('a.o: a.c\n\t$(CC) -c a.c -o a.o\n\t@readlink -f "$$(command -v ggcc)" > ggcc-was\n')
    store = tmp_path / "store"
    env = dict(os.environ, GGCC_DIR=str(store), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    try:
        for native, ran in (("1", "ggcc-client"), ("0", "ggcc")):  # GGCC_NATIVE=0: bin/ggcc, the script
            (tmp_path / "a.o").unlink(missing_ok=True)
            subprocess.run(GGCC + ["make", "CC=ggcc gcc"], cwd=tmp_path, env=dict(env, GGCC_NATIVE=native), check=True,
                           capture_output=True)
            assert Path((tmp_path / "ggcc-was").read_text().strip()).name == ran
    finally:
        stop_daemons(tmp_path)
    s = ggcc_stats(store)
    assert (s["invocations"], s["cache_hits"], s["executed"]) == (2, 1, 1), s


def test_a_launcher_the_user_chose_is_kept() -> None:
    cmd = configure.command(["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-S", ".", "-B", "b"], (3, 25))
    assert "-DCMAKE_C_COMPILER_LAUNCHER=ccache" in cmd
    assert not any(c.startswith("-DCMAKE_C_COMPILER_LAUNCHER=") and "ccache" not in c for c in cmd)
    assert any(c.startswith("-DCMAKE_CXX_COMPILER_LAUNCHER=") for c in cmd)
    old = configure.command(["-S", "."], (3, 18))
    assert not any("LINKER_LAUNCHER" in c for c in old)
    assert configure.command(["--build", "b"], (3, 25)) == ["cmake", "--build", "b"]


@pytest.mark.parametrize("args,has", [
    (["-j8"], True), (["-j", "8"], True), (["--jobs=3"], True), (["-kj8"], True), (["-j"], True),
    (["-k"], False), (["all"], False), (["-C", "build"], False), (["-C", "b", "--", "-j4"], False),
])
def test_jobs_flag_detection(args: list[str], has: bool) -> None:
    assert has_jobs_flag(args) is has
