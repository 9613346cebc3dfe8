"""ggcc's own header scanner: the same files and the same depfile bytes as
the compiler's -M, on crafted corner cases and on real projects."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from debian_sources import copy_of, libuv_compiles, zlib_commands
from helpers import GGCC, ggcc_stats

from ggcc.dependency_scan import cpp_expr, directives, headers, scanner
from ggcc.dependency_scan.scan_cache import ScanCache
from ggcc.formats.compile import Compile
from ggcc.launcher.args import parse
from ggcc.storage.hash_cache import HashCache

# -- directives ------------------------------------------------------------


def test_directives_see_through_comments_splices_and_strings() -> None:
    src = (
        b"/* #include <hidden.h>\n#define HIDDEN 1 */\n"
        b"# \\\n  include <spliced.h>\n"
        b'const char *s = "/*"; \n#include "after_string.h"\n'
        b"#define X 1 /* a comment that\n spans lines */ + 2\r\n"
        b"// #include <line_comment.h>\n"
        b"  #  if defined(A) && \\\n B\n#endif\n"
        b"#pragma once\n#pragma GCC system_header\n#error don't stop\n"
    )
    guard, ds = directives.extract(src)
    assert guard == ""
    kinds = [d[:3] if d[0] == "include" else d[:2] for d in ds]
    assert kinds == [
        ("include", "<", "spliced.h"), ("include", '"', "after_string.h"),
        ("define", "X"), ("if", "defined(A) &&  B"), ("endif",), ("once",), ("system_header",),
    ]
    assert ds[2][2] == (None, "1   + 2")


def test_include_guard_is_found_only_when_it_covers_the_whole_file() -> None:
    guarded = b"#ifndef G\n#define G\n#if X\n#include <a.h>\n#endif\n#endif\n"
    assert directives.extract(guarded)[0] == "G"
    assert directives.extract(b"#if !defined(G)\n#define G\n#endif\n")[0] == "G"
    with_else = b"#ifndef G\n#define G\n#else\n#include_next <limits.h>\n#endif\n"
    assert directives.extract(with_else)[0] == ""
    trailing = b"#ifndef G\n#define G\n#endif\n#include <x.h>\n"
    assert directives.extract(trailing)[0] == ""


def test_each_branch_knows_its_next_sibling() -> None:
    _, ds = directives.extract(b"#if A\n#if B\n#endif\n#elif C\n#else\n#endif\n")
    assert [d[0] for d in ds] == ["if", "if", "endif", "elif", "else", "endif"]
    assert (ds[0][-1], ds[1][-1], ds[3][-1], ds[4][-1]) == (3, 2, 4, 5)


# -- expressions -----------------------------------------------------------


def _ev(expr: str, defs: dict[str, str] | None = None, cplusplus: bool = False) -> bool:
    macros: dict[str, cpp_expr.Macro] = {}
    for line in (defs or {}).items():
        d = directives._define(f"{line[0]} {line[1]}")
        assert d is not None
        macros[d[1]] = d[2]
    ex = cpp_expr.Expander(macros, cpp_expr.GCC_QUERIES, lambda f, n, x: n == "present.h", cplusplus)
    return ex.evaluate(expr)


@pytest.mark.parametrize("expr, want", [
    ("1 + 2 * 3 == 7", True), ("(1 ? 2 : 3) == 2", True), ("-1 < 0", True), ("-1 < 0u", False),
    ("~0u == 0xffffffffffffffff", True), ("7 / -2 == -3 && 7 % -2 == 1", True), ("1 << 62 > 0", True),
    ("'a' == 97 && '\\n' == 10", True), ("0x10 == 16 && 010 == 8 && 0b11 == 3 && 10UL == 10", True),
    ("defined X && !defined(Y)", True), ("UNDEFINED_WORD == 0", True),
    ("VERSION(2, 3) >= 0x0203", True), ("CAT(X, Y) == 12", True),
    ("VA() == 0 && VA(1, 2) == 2", True), ("__has_include(<present.h>) && !__has_include(\"gone.h\")", True),
    ("F(F(1)) == 4", True), ("SELF + 0 == 0", True),
])
def test_if_expressions(expr: str, want: bool) -> None:
    defs = {"X": "1", "XY": "12", "VERSION(a, b)": "((a) << 8 | (b))", "CAT(a, b)": "a ## b",
            "VA(...)": "__VA_OPT__(2) + 0", "F(x)": "(x) * 2", "SELF": "SELF"}
    assert _ev(expr, defs) is want


def test_stringified_operands_are_not_preprocessor_arithmetic() -> None:
    with pytest.raises(cpp_expr.Undecidable):
        _ev("STR(a b)", {"STR(x)": "sizeof #x"})


def test_cplusplus_alternative_tokens_and_booleans() -> None:
    assert _ev("true and not false", cplusplus=True) is True
    assert _ev("true", cplusplus=False) is False


def test_uncertain_macros_and_unknown_builtins_are_undecidable() -> None:
    macros = {"U": cpp_expr.UNCERTAIN}
    ex = cpp_expr.Expander(macros, cpp_expr.GCC_QUERIES, lambda f, n, x: False, False)
    for expr in ("U", "defined U", "__LINE__ > 0", "__has_attribute(noreturn)"):
        with pytest.raises(cpp_expr.Undecidable):
            ex.evaluate(expr)


# -- the scanner against gcc ----------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    old = time.time() - 10
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        os.utime(p, (old, old))


CORNERS = {
    "main.c": (
        '#include "sub/a.h"\n#include "sub/b.h"\n#include <wrap.h>\n#include "q.h"\n#include "once.h"\n'
        '#include "dir/once_copy.h"\n#define HDR <computed.h>\n#include HDR\n#define QHDR(x) #x\n'
        '#include QHDR(sys1.h)\n#if __has_include(<probe.h>)\n#define HAVE_PROBE 1\n#endif\n'
        "#include <limits.h>\n#include <stdio.h>\n#ifdef __cplusplus\n#include <never.h>\n#endif\n"
        "#if defined(__GNUC__) && __GNUC__ >= 4\n#include \"gnu4.h\"\n#elif 1\n#include <never.h>\n#else\n"
        "#include <never.h>\n#endif\n#if __has_attribute(noreturn)\n#include \"attr.h\"\n#endif\n"
        "int main(void) { return 0; }\n"
    ),
    "sub/a.h": '#include "b.h"\n',
    "sub/b.h": '#ifndef B_H\n#define B_H\n#include "a.h"\n#endif\n',
    "inc1/wrap.h": "#include_next <wrap.h>\n",
    "inc2/wrap.h": "#define WRAPPED 1\n",
    "quote/q.h": "#include <sys1.h>\n",
    "once.h": "#pragma once\nint once;\n",
    "dir/once_copy.h": "#pragma once\nint once;\n",
    "inc1/computed.h": "#include <sys1.h>\n",
    "sys/sys1.h": '#pragma GCC system_header\n#include "sys2.h"\n',
    "sys/sys2.h": "#define SYS2 1\n",
    "inc1/probe.h": "",
    "gnu4.h": "",
    "attr.h": "",
    "dir path/sp ace#.h": "",
}
FLAGS = ["-Iinc1", "-I./inc2/", "-iquote", "quote", "-isystem", "sys", "-I", "dir path"]


@pytest.fixture
def corners(tmp_path: Path) -> Path:
    _write(tmp_path, CORNERS)
    (tmp_path / "main.c").write_text(CORNERS["main.c"].replace("int main", '#include "sp ace#.h"\nint main'))
    return tmp_path


def _own(cmd: list[str], cwd: Path) -> tuple[headers.Scan, headers.Verification | None]:
    comp = parse(cmd[1:])
    assert isinstance(comp, Compile)
    return headers.scan(cmd[0], comp, str(cwd), dict(os.environ, GGCC_SCAN_VERIFY="1"),
                        ScanCache(None, HashCache(None)))


@pytest.mark.parametrize("deps", [["-MD"], ["-MMD", "-MP"], ["-MD", "-MT", "a b$c", "-MQ", "x y$z#", "-MT", "t"],
                                  ["-MMD", "-MF", "out/m.d"]])
def test_corner_cases_match_gcc_byte_for_byte(corners: Path, deps: list[str]) -> None:
    (corners / "out").mkdir()
    cmd = ["gcc", *FLAGS, "-c", "main.c", "-o", "out/main.o", *deps]
    plain = subprocess.run(cmd, cwd=corners, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    s, v = _own(cmd, corners)
    assert v is not None and v.fallback == ""
    assert v.missing == () and v.depfile_equal is True, v
    own = headers.own_scan("gcc", parse(cmd[1:]), str(corners), dict(os.environ),  # type: ignore[arg-type]
                           ScanCache(None, HashCache(None)))
    try:
        assert own.method == "own" and own.fallback == ""
        got = Path(own.depfile_tmp).read_bytes()
    finally:
        os.unlink(own.depfile_tmp)
    dep_file = next((deps[i + 1] for i, a in enumerate(deps) if a == "-MF"), "out/main.d")
    assert got == (corners / dep_file).read_bytes()
    assert b"sub/a.h sub/b.h sub/a.h sub/b.h" in got.replace(b" \\\n", b"")  # gcc's duplicates, kept
    assert "inc1/probe.h" in own.files  # read by __has_include: an input, though not a dependency
    assert "never.h" not in " ".join(own.files)
    if s.depfile_tmp:
        os.unlink(s.depfile_tmp)


def test_undecidable_branches_are_all_taken(tmp_path: Path) -> None:
    _write(tmp_path, {
        "m.c": '#include "cfg.h"\n#if USE_A\n#include "a.h"\n#else\n#include "b.h"\n#endif\nint x;\n',
        "cfg.h": "#if __has_attribute(surely_not_an_attribute) || __COUNTER__ > 5\n#define USE_A 1\n"
                 "#else\n#define USE_A 0\n#endif\n",
        "a.h": "", "b.h": "",
    })
    own = headers.own_scan("gcc", parse(["-c", "m.c", "-MD"]), str(tmp_path), dict(os.environ),  # type: ignore[arg-type]
                           ScanCache(None, HashCache(None)))
    try:
        assert {"a.h", "b.h"} <= set(own.files)
        assert own.fallback == "depfile-not-exact"  # the depfile came from the compiler
        assert Path(own.depfile_tmp).read_text().split() == ["m.o:", "m.c", "/usr/include/stdc-predef.h", "cfg.h",
                                                            "b.h"]
    finally:
        os.unlink(own.depfile_tmp)


def test_what_the_scanner_cannot_do_falls_back_to_the_compiler(tmp_path: Path) -> None:
    _write(tmp_path, {"m.c": '#include "h.h"\nint x;\n', "h.h": "", "pre.h": ""})
    for flags, reason in ((["-include", "pre.h"], "forced-include"), (["-traditional-cpp"], "traditional-cpp")):
        comp = parse(["-c", "m.c", *flags])
        assert isinstance(comp, Compile)
        with pytest.raises(scanner.Unsupported, match=reason):
            headers.own_scan("gcc", comp, str(tmp_path), dict(os.environ), ScanCache(None, HashCache(None)))
        s, _ = headers.scan("gcc", comp, str(tmp_path), dict(os.environ), ScanCache(None, HashCache(None)))
        assert (s.method, s.fallback) == ("compiler", reason) and "h.h" in s.files
    (tmp_path / "m.c").write_text('#include "missing.h"\n')
    comp = parse(["-c", "m.c"])
    with pytest.raises(scanner.Unsupported, match="header-not-found"):
        headers.own_scan("gcc", comp, str(tmp_path), dict(os.environ), ScanCache(None, HashCache(None)))  # type: ignore[arg-type]


def test_ggcc_scan_compiler_uses_the_compilers_own_list(tmp_path: Path) -> None:
    _write(tmp_path, {"m.c": '#include "h.h"\nint x;\n', "h.h": ""})
    comp = parse(["-c", "m.c"])
    assert isinstance(comp, Compile)
    s, v = headers.scan("gcc", comp, str(tmp_path), dict(os.environ, GGCC_SCAN="compiler"),
                        ScanCache(None, HashCache(None)))
    assert (s.method, s.fallback, v) == ("compiler", "", None) and "h.h" in s.files


def test_directive_lists_persist_and_new_files_are_seen(tmp_path: Path) -> None:
    _write(tmp_path, {"p/m.c": '#include "h.h"\nint x;\n', "p/inc2/h.h": "#define FROM2\n"})
    store = tmp_path / "store"
    comp = parse(["-Iinc1", "-Iinc2", "-c", "m.c"])
    assert isinstance(comp, Compile)
    cwd = str(tmp_path / "p")
    first = headers.own_scan("gcc", comp, cwd, dict(os.environ), ScanCache(str(store), HashCache(str(store))))
    assert "inc2/h.h" in first.files and first.absent is not None
    assert os.path.join(cwd, "h.h") in first.absent  # would win if it appeared
    assert os.path.join(cwd, "inc1") in first.absent  # skipped by gcc as missing: it would count if it appeared
    assert any(p.is_file() for p in (store / "scan").rglob("V*")), "directive lists are kept on disk"
    cache = ScanCache(str(store), HashCache(str(store)))
    headers.own_scan("gcc", comp, cwd, dict(os.environ), cache)
    (tmp_path / "p/inc1").mkdir()
    (tmp_path / "p/inc1/h.h").write_text("#define FROM1\n")
    again = headers.own_scan("gcc", comp, cwd, dict(os.environ), cache)  # same cache: its listings must notice
    assert "inc1/h.h" in again.files and "inc2/h.h" not in again.files


def test_new_shadowing_header_invalidates_a_direct_hit(tmp_path: Path) -> None:
    # inc1 holds several looked-for names (kept as one directory stamp);
    # "nope" does not exist at all (gcc drops it from the search list).
    _write(tmp_path, {"p/m.c": '#include <h.h>\n#include <g.h>\n#include <stdio.h>\nint v = V + G;\n',
                      "p/inc2/h.h": "#define V 2\n", "p/inc2/g.h": "#define G 20\n", "p/inc1/other.h": ""})
    old = time.time() - 10
    os.utime(tmp_path / "p/inc1", (old, old))
    env = dict(os.environ, GGCC_DIR=str(tmp_path / "store"), GGCC_DAEMON="0")
    flags = ["-Inope", "-Iinc1", "-Iinc2", "-c", "m.c"]
    cmd = GGCC + ["gcc", *flags, "-o", "m.o"]
    cwd = tmp_path / "p"

    def build_and_compare() -> bytes:
        subprocess.run(cmd, cwd=cwd, env=env, check=True)
        subprocess.run(["gcc", *flags, "-o", "plain.o"], cwd=cwd, check=True)
        assert (cwd / "m.o").read_bytes() == (cwd / "plain.o").read_bytes()
        return (cwd / "m.o").read_bytes()

    first = build_and_compare()
    assert build_and_compare() == first
    hits = ggcc_stats(tmp_path / "store")
    assert hits["direct_hits"] == 1
    (cwd / "inc1/g.h").write_text("#define G 10\n")  # shadows inc2/g.h
    second = build_and_compare()
    assert second != first
    (cwd / "nope").mkdir()
    (cwd / "nope/h.h").write_text("#define V 1\n")  # a new search directory, ahead of the others
    assert build_and_compare() not in (first, second)


def test_verify_mode_through_the_launcher_counts_checks(corners: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = dict(os.environ, GGCC_DIR=str(store), GGCC_DAEMON="0", GGCC_SCAN_VERIFY="1")
    subprocess.run(GGCC + ["gcc", *FLAGS, "-MD", "-c", "main.c", "-o", "main.o"], cwd=corners, env=env, check=True)
    s = ggcc_stats(store)
    assert s["scan_verify"]["checked"] == 1 and s["scan_verify"]["missing"] == 0
    assert s["scan_verify"]["depfiles_differ"] == 0
    shown = subprocess.run(GGCC + ["stats"], env=env, capture_output=True, text=True, check=True).stdout
    assert "verified       1: 0 missing a header, 0 depfiles differ" in shown


# -- real projects ------------------------------------------------------------


def _verify_all(cmds: list[tuple[str, Compile, str]], extra: list[str]) -> tuple[int, int, int]:
    """Every compile scanned with verification against gcc -M, on a thread
    per core sharing one cache (as the daemon's request threads do)."""
    from concurrent.futures import ThreadPoolExecutor

    cache = ScanCache(None, HashCache(None))
    env = dict(os.environ, GGCC_SCAN_VERIFY="1")

    def verify(cmd: tuple[str, Compile, str]) -> tuple[int, int]:
        compiler, comp, cwd = cmd
        comp2 = parse([*comp.args, *extra, "-o", comp.output])
        assert isinstance(comp2, Compile)
        s, v = headers.scan(compiler, comp2, cwd, env, cache)
        if s.depfile_tmp:
            os.unlink(s.depfile_tmp)
        assert v is not None and v.fallback == "", (comp.source, v)
        assert v.missing == (), (comp.source, v.missing)
        assert v.depfile_equal is True, comp.source
        return v.extra, v.total

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        results = list(pool.map(verify, cmds))
    return sum(e for e, _ in results), sum(t for _, t in results), len(results)


def test_zlib_every_translation_unit_exact(tmp_path: Path) -> None:
    tree = copy_of("zlib", tmp_path)
    cmds = []
    for argv, cwd in zlib_commands(tree, "-O2"):
        comp = parse(argv[1:])
        assert isinstance(comp, Compile)
        cmds.append((argv[0], comp, cwd))
    for extra in (["-MD"], ["-MMD", "-MP"]):
        extras, total, n = _verify_all(cmds, extra)
        assert n == len(cmds) and extras == 0, (extras, total)


def test_libuv_every_translation_unit_exact(tmp_path: Path) -> None:
    cmds = libuv_compiles(copy_of("libuv1", tmp_path))
    assert len(cmds) > 400
    extras, total, n = _verify_all(cmds, ["-MD"])
    assert n == len(cmds)
    assert extras <= total // 10  # the bound; 0 when measured
