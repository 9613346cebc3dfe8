"""Command-line classification: pure, so tested directly."""

from __future__ import annotations

import pytest

from ggcc.formats.compile import Compile
from ggcc.launcher.args import parse
from ggcc.launcher.request import Local


def test_cmake_style_compile() -> None:
    c = parse(["-DX=1", "-I/p/include", "-O2", "-g", "-MD", "-MT", "o/a.o", "-MF", "o/a.o.d", "-o", "o/a.o", "-c", "/p/a.c"])
    assert isinstance(c, Compile)
    assert c.source == "/p/a.c" and c.output == "o/a.o" and c.language == "c"
    assert c.deps.kind == "MD" and c.deps.file == "o/a.o.d" and c.deps.targets == (("-MT", "o/a.o"),)
    assert "-MD" not in c.args and "-o" not in c.args
    assert c.include_dirs == ("/p/include",)


def test_default_output_and_depfile_names() -> None:
    c = parse(["-MMD", "-c", "src/x.cc"])
    assert isinstance(c, Compile)
    assert (c.output, c.deps.file, c.language) == ("x.o", "x.d", "c++")
    c = parse(["-MD", "-c", "x.c", "-o", "obj/x.obj"])
    assert isinstance(c, Compile) and c.deps.file == "obj/x.d"


def test_separate_and_joined_paths_are_remembered() -> None:
    c = parse(["-I", "inc", "-isystem/sys", "-include", "pre.h", "-c", "a.c"])
    assert isinstance(c, Compile)
    assert [(o, v) for _, o, v in c.path_args] == [("-I", "inc"), ("-isystem", "/sys"), ("-include", "pre.h")]


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["-c", "a.c", "b.c"], "multiple-sources"),
        (["a.c", "-o", "prog"], "not-compile-only"),
        (["-E", "a.c"], "preprocess-only"),
        (["-M", "a.c"], "dependencies-only"),
        (["-c", "-", "-o", "x.o"], "stdin-source"),
        (["-c", "a.c", "-o", "-"], "stdout-output"),
        (["-c", "a.c", "-save-temps"], "save-temps"),
        (["-c", "a.c", "-fprofile-use"], "profile-use"),
        (["-c", "a.c", "-fplugin=foo.so"], "plugin"),
        (["-c", "a.c", "--sysroot=/x"], "user-sysroot"),
        (["-c", "a.c", "-gsplit-dwarf"], "split-dwarf"),
        (["-c", "a.m"], "unsupported-language"),
        (["@args.rsp"], "response-file"),
        (["-c", "a.c", "--weird-flag"], "unknown-option:--weird-flag"),
        (["-c", "a.c", "-Wp,-MD,x.d"], "preprocessor-passthrough"),
        (["-c", "a.c", "-o"], "missing-argument"),
        (["-x", "c-header", "-c", "a.h"], "precompiled-header"),
    ],
)
def test_local_reasons(argv: list[str], reason: str) -> None:
    got = parse(argv)
    assert isinstance(got, Local), got
    assert got.reason == reason


def test_native_flags_are_found() -> None:
    c = parse(["-O2", "-march=native", "-mtune=native", "-c", "a.c"])
    assert isinstance(c, Compile)
    assert [c.args[i] for i in c.natives] == ["-march=native", "-mtune=native"]
