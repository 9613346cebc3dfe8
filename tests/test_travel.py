"""A cache that travels (launcher/travel.py): the same step under another
build root, or to another output name, is a hit, and only when its bytes
are the ones this root would make. Pure parts first, then real compiles,
zlib through make at two paths (one Redis, two GGCC_DIRs) and libuv."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from debian_sources import build_outputs, copy_of, zlib_outputs
from helpers import GGCC, ggcc_stats
from servers import redis_server

from ggcc.formats import ids
from ggcc.formats.result import OutputValue, Result
from ggcc.formats.thunk import ROOT_TOKEN, Input, Output, Thunk
from ggcc.launcher import travel

GCC = Input("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ids.value_id_of_bytes(b"loader"))
LAUNCHER = " ".join(GGCC)


def _compile_thunk(root: str, out: str = "build/a.o", header: bytes = b"#define X 1\n") -> Thunk:
    """A compile's thunk as build_thunk makes it, for a tree at ``root``
    (a host path without its leading '/')."""
    src = Input(f"{root}/src/a.c", ids.value_id_of_bytes(b"int a;\n"))
    hdr = Input(f"{root}/include/a.h", ids.value_id_of_bytes(header))
    sys_hdr = Input("usr/include/stdio.h", ids.value_id_of_bytes(b"stdio"))
    cc1 = Input("usr/lib/gcc/x86_64-linux-gnu/12/cc1", ids.value_id_of_bytes(b"cc1"), True)
    args = ["gcc", f"-ffile-prefix-map={ROOT_TOKEN}=", f"-I{ROOT_TOKEN}/{root}/include", "-c",
            f"{ROOT_TOKEN}/{root}/src/a.c", "-o", os.path.relpath(f"/{root}/{out}", f"/{root}/build")]
    return Thunk.make(GCC, args, {"LC_ALL": "C"}, [src, hdr, sys_hdr, cc1], [Output("object", f"{root}/{out}")],
                      cwd=f"{root}/build", dirs=[f"{root}/build"])


# -- keys ----------------------------------------------------------------------------
def test_the_same_step_under_two_roots_has_one_key() -> None:
    a = travel.place(_compile_thunk("tmp/x/a/proj"), "", True)
    b = travel.place(_compile_thunk("home/u/somewhere/else/proj"), "", True)
    assert a is not None and b is not None
    assert (a.base, b.base) == ("/tmp/x/a/proj", "/home/u/somewhere/else/proj")
    assert a.key == b.key
    other = travel.place(_compile_thunk("home/u/proj", header=b"#define X 2\n"), "", True)
    assert other is not None and other.key != a.key  # a header's content is still in the key


def test_a_file_outside_the_root_keeps_its_absolute_path_in_the_key() -> None:
    def with_outside(where: str) -> Thunk:
        t = _compile_thunk("tmp/r/proj")
        return Thunk.make(t.program, t.args, dict(t.env), list(t.inputs) + [Input(where, ids.value_id_of_bytes(b"h"))],
                          t.outputs, cwd=t.cwd, dirs=t.dirs)

    one, two = travel.place(with_outside("usr/local/include/dep.h"), "", True), \
        travel.place(with_outside("usr/include/dep.h"), "", True)
    assert one is not None and two is not None and one.key != two.key


def test_a_sibling_named_like_the_root_is_not_the_root() -> None:
    swap = travel._swapper("/src/proj")
    assert swap(f"-I{ROOT_TOKEN}/src/proj/include") == f"-I{ROOT_TOKEN}{travel.BASE_TOKEN}/include"
    assert swap(f"-ffile-prefix-map={ROOT_TOKEN}/src/proj=.") == f"-ffile-prefix-map={ROOT_TOKEN}{travel.BASE_TOKEN}=."
    assert swap("-I/src/proj/include") == f"-I{travel.BASE_TOKEN}/include"
    assert swap("-isystem/src/proj") == f"-isystem{travel.BASE_TOKEN}"
    assert swap("/src/proj/a.c") == f"{travel.BASE_TOKEN}/a.c"
    for untouched in (f"-I{ROOT_TOKEN}/src/proj2/include", "-I/home/src/proj/include", "/src/proj.old", "x/src/proj",
                      "-I/usr/src/proj"):
        assert swap(untouched) == untouched


def test_the_output_name_is_left_out_of_a_compiles_key_only() -> None:
    a, b = _compile_thunk("tmp/p", "build/a.o"), _compile_thunk("tmp/p", "build/sub/b.o")
    ka, kb = travel.place(a, "", True), travel.place(b, "", True)
    assert ka is not None and kb is not None and ka.key == kb.key and ka.name_free
    la, lb = travel.place(a, "", False), travel.place(b, "", False)
    assert la is not None and lb is not None and la.key != lb.key  # links, archives: the name stays


def test_ggcc_basedir_sets_the_root_and_slash_turns_travel_off() -> None:
    t = _compile_thunk("tmp/x/a/proj")
    assert travel.find_base(t, "") == "/tmp/x/a/proj"
    assert travel.find_base(t, "/tmp/x") == "/tmp/x"
    assert travel.find_base(t, "/elsewhere") == "/tmp/x/a/proj"  # not holding the step: detected
    assert travel.place(t, "/", True) is None


# -- what a result may carry to another root ---------------------------------------------
def test_messages_are_kept_as_pieces_around_the_root() -> None:
    text = f"{ROOT_TOKEN}/r/proj/src/a.c:1:5: warning: x\n/r/proj: here\n".encode()
    pieces = travel.split_text(text, "/r/proj")
    assert pieces is not None and travel.join_text(pieces, "/r/proj") == text
    assert travel.join_text(pieces, "/home/u/p") == f"{ROOT_TOKEN}/home/u/p/src/a.c:1:5: warning: x\n/home/u/p: here\n".encode()
    assert travel.split_text(b"no paths here\n", "/r/proj") == [b"no paths here\n"]
    assert travel.split_text(b"see /r/proj2/x.c\n", "/r/proj") is None  # a sibling: cannot be redone
    assert travel.split_text(b"in _r_proj_a_c\n", "/r/proj") is None  # the root as a symbol names it


def _result(*refs: str, stderr: bytes = b"") -> Result:
    return Result("T" + "0" * 64, 0, tuple(OutputValue("object", r) for r in refs), b"", stderr)


def test_an_output_holding_its_root_is_tied_to_it(tmp_path: Path) -> None:
    free, tied = tmp_path / "free", tmp_path / "tied"
    free.write_bytes(b"\x7fELF code only")
    tied.write_bytes(b"\x7fELF DW_AT_comp_dir /tmp/x/a/proj/build\0")
    files = {"Vfree": str(free), "Vtied": str(tied)}
    t = _compile_thunk("tmp/x/a/proj")
    where = travel.place(t, "", True)
    assert where is not None
    made = travel.make_record(where, t, _result("Vfree"), files.__getitem__)
    assert not made.embeds_root and made.data is not None and json.loads(made.data)["tied"] is False
    made = travel.make_record(where, t, _result("Vtied"), files.__getitem__)
    assert made.embeds_root and made.data is not None and json.loads(made.data)["tied"] is True
    mangled = tmp_path / "mangled"
    mangled.write_bytes(b"_GLOBAL__sub_I__tmp_x_a_proj_src_a.c")
    files["Vm"] = str(mangled)
    assert travel.make_record(where, t, _result("Vm"), files.__getitem__).embeds_root


def _record(**changes: object) -> bytes:
    obj: dict[str, object] = {"v": travel.FORMAT, "root": travel._root_id("/tmp/x/a/proj"), "tied": False,
                              "names": None, "outputs": [["object", ids.value_id_of_bytes(b"obj"), False]],
                              "stdout": [], "stderr": [base64.b64encode(b"w: ").decode(), base64.b64encode(b"/a.c\n").decode()]}
    obj.update(changes)
    return json.dumps(obj).encode()


def test_a_record_gives_this_root_its_own_messages() -> None:
    t = _compile_thunk("home/v/proj")
    where = travel.place(t, "", True)
    assert where is not None
    found = travel.use_record(_record(), where, t)
    assert found is not None and found.other_root
    assert found.result.stderr == b"w: /home/v/proj/a.c\n" and found.result.thunk_id == t.id


@pytest.mark.parametrize("changes", [
    {"tied": True},  # made under another root, and it records that root
    {"names": ["/build/other.o"]},  # its bytes name another output
    {"outputs": [["object", "T" + "0" * 64, False]]},  # not a value
    {"outputs": [["archive", ids.value_id_of_bytes(b"obj"), False]]},  # another kind of step
    {"stderr": ["%%%"]},  # damaged
    {"v": 99},
])
def test_a_record_that_does_not_fit_is_not_used(changes: dict[str, object]) -> None:
    t = _compile_thunk("home/v/proj")
    where = travel.place(t, "", True)
    assert where is not None
    assert travel.use_record(_record(**changes), where, t) is None
    assert travel.use_record(b"{not json", where, t) is None


# -- real compiles ---------------------------------------------------------------------------
def _tree(root: Path, source: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "build").mkdir()
    (root / "include" / "k.h").write_text("#define K 7\n")
    (root / "src" / "a.c").write_text(source)
    old = time.time() - 10  # outside the hash cache's racy window
    for f in (root / "include" / "k.h", root / "src" / "a.c"):
        os.utime(f, (old, old))
    return root


SOURCE = '#include "k.h"\nint f(int x) { int unused; return x * K; }\n'


def _cc(root: Path, store: Path, out: str, *flags: str, ggcc: bool = True,
        local_run: str = "") -> subprocess.CompletedProcess[bytes]:
    argv = ["gcc", "-O2", "-Wall", *flags, f"-I{root}/include", "-c", f"{root}/src/a.c", "-o", out]
    env = dict(os.environ, GGCC_DIR=str(store), GGCC_LOCAL_RUN=local_run)
    p = subprocess.run((GGCC if ggcc else []) + argv, cwd=root / "build", env=env, capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p


def test_one_compile_to_two_output_names_runs_once(tmp_path: Path) -> None:
    """The sandbox's case: a step run in place knows no thunk before it runs."""
    root = _tree(tmp_path / "p", SOURCE)
    store = tmp_path / "store"
    for flags in ((), ("-g",)):  # -g records the root: the same root may still use it
        first = _cc(root, store, "a.o", *flags, local_run="sandbox")
        second = _cc(root, store, "b.o", *flags, local_run="sandbox")
        plain = _cc(root, store, "plain.o", *flags, ggcc=False)
        assert (root / "build" / "b.o").read_bytes() == (root / "build" / "plain.o").read_bytes()
        assert first.stderr == second.stderr == plain.stderr and b"unused" in plain.stderr
    s = ggcc_stats(store)
    assert (s["executed"], s["cache_hits"], s["travel"]["hits_under_other_name"]) == (2, 2, 2), s


@pytest.mark.parametrize("flags, travels", [
    ((), True),
    (("-g",), False),  # DW_AT_comp_dir is the build directory
    (("-DWHERE=__FILE__",), False),  # the absolute source path in .rodata
    (("-g", "-ffile-prefix-map=ROOT=."), True),  # the way to share debug builds
])
def test_a_compile_under_another_root_hits_only_when_its_bytes_are_the_same(
        tmp_path: Path, flags: tuple[str, ...], travels: bool) -> None:
    source = SOURCE + "const char *where(void) { return WHERE; }\n" if "-DWHERE=__FILE__" in flags else SOURCE
    roots = [_tree(tmp_path / "a" / "proj", source), _tree(tmp_path / "b" / "some" / "where" / "proj", source)]
    store = tmp_path / "store"
    got = []
    for root in roots:
        mine = tuple(f.replace("ROOT", str(root)) for f in flags)
        ours = _cc(root, store, "a.o", *mine)
        plain = _cc(root, store, "plain.o", *mine, ggcc=False)
        assert (root / "build" / "a.o").read_bytes() == (root / "build" / "plain.o").read_bytes()
        assert ours.stderr == plain.stderr and str(root).encode() in plain.stderr  # the warning names this root
        got.append(ggcc_stats(store))
    s = got[-1]
    assert s["travel"]["hits_from_other_root"] == (1 if travels else 0), s
    assert s["executed"] == (1 if travels else 2) and s["travel"]["tied_to_root"] == (0 if travels else 2), s


@pytest.mark.parametrize("change", ["edited", "shadowed", "none"])
def test_a_compile_in_another_checkout_is_answered_without_a_scan_only_if_its_headers_are_the_same(
        tmp_path: Path, change: str) -> None:
    roots = [_tree(tmp_path / "a" / "proj", SOURCE), _tree(tmp_path / "b" / "proj", SOURCE)]
    store = tmp_path / "store"
    _cc(roots[0], store, "a.o", "-MD")
    if change == "edited":
        (roots[1] / "include" / "k.h").write_text("#define K 8\n")
    elif change == "shadowed":  # found first from now on: the including file's own directory
        (roots[1] / "src" / "k.h").write_text("#define K 9\n")
    subprocess.run(GGCC + ["stats", "--zero"], env=dict(os.environ, GGCC_DIR=str(store)), check=True)
    ours = _cc(roots[1], store, "a.o", "-MD")
    plain = _cc(roots[1], store, "plain.o", "-MD", ggcc=False)
    build = roots[1] / "build"
    assert (build / "a.o").read_bytes() == (build / "plain.o").read_bytes() and ours.stderr == plain.stderr
    assert (build / "a.d").read_text() == (build / "plain.d").read_text().replace("plain.o", "a.o")
    assert str(roots[1]) in (build / "a.d").read_text()
    s = ggcc_stats(store)
    if change == "none":
        assert (s["direct_hits"], s["travel"]["hits_from_other_root"], s["own_scans"]) == (1, 1, 0), s
    else:  # compiled again: scanned first, or in place
        assert (s["direct_hits"], s["executed"], s["own_scans"] + s["in_place"]) == (0, 1, 1), s


def test_a_compile_in_another_checkout_a_moment_after_the_first_finds_it(tmp_path: Path) -> None:
    """The first root's entry is filed after its answer, when the daemon is
    quiet: the second root's lookup, at once, waits for it."""
    roots = [_tree(tmp_path / "a" / "proj", SOURCE), _tree(tmp_path / "b" / "proj", SOURCE)]
    store = tmp_path / "store"
    subprocess.run(GGCC + ["daemon", "start"], env=dict(os.environ, GGCC_DIR=str(store)), check=True,
                   capture_output=True)
    for root in roots:  # back to back: no ggcc stats (which waits for the filing) between
        _cc(root, store, "a.o", "-MD")
    s = ggcc_stats(store)
    assert (s["direct_hits"], s["travel"]["hits_from_other_root"], s["executed"]) == (1, 1, 1), s


def test_entries_for_other_roots_keep_what_is_under_the_root_relative() -> None:
    from ggcc.launcher import travel_direct

    assert travel_direct.ancestors("/x/a/proj/build") == ["/x/a/proj/build", "/x/a/proj", "/x/a", "/x"]
    parts = [1, ["-I/x/a/proj/include", "-I/usr/include/glib"], "a.o", "/x/a/proj/build"]
    moved = [1, ["-I/home/u/p/include", "-I/usr/include/glib"], "a.o", "/home/u/p/build"]
    # Found by one key that needs no base, then checked with the base swapped.
    assert travel_direct.index_key(parts, "/x/a/proj/build") == travel_direct.index_key(moved, "/home/u/p/build")
    assert travel_direct.index_key(parts, "/x/a/proj/build") != travel_direct.index_key(moved, "/home/u/p/sub")
    assert travel_direct.key(parts, "/x/a/proj") == travel_direct.key(moved, "/home/u/p")
    assert travel_direct.key(parts, "/x/a/proj") != travel_direct.key(moved, "/home/u")
    depfile = b"a.o: /x/a/proj/src/a.c /x/a/proj/include/k.h /usr/include/stdio.h\n"
    e = travel_direct.make_entry("/x/a/proj", "/x/a/proj/build", parts,
                                 [("/x/a/proj/src/a.c", "V1"), ("../include/k.h", "V2"), ("/usr/include/stdio.h", "V3")],
                                 ["/x/a/proj/src/stdio.h", "/usr/local/include/stdio.h"], "k", depfile)
    assert e is not None and e.up == 1 and e.key == travel_direct.key(parts, "/x/a/proj")
    files, absent, dep = e.at("/home/u/p")
    assert files == [("/home/u/p/src/a.c", "V1"), ("../include/k.h", "V2"), ("/usr/include/stdio.h", "V3")]
    assert sorted(absent) == [("/home/u/p/src", ("stdio.h",)), ("/usr/local/include", ("stdio.h",))]
    assert dep == depfile.replace(b"/x/a/proj", b"/home/u/p")
    assert travel_direct.make_entry("/x/a/proj", "/x/a/proj/build", parts, [], [], "k", b"a.o: /x/a/proj2/h.h\n") is None


# -- whole builds ----------------------------------------------------------------------------------
MAKE = ["make", "-j2", f"CC={LAUNCHER} gcc", f"AR={LAUNCHER} ar", f"RANLIB={LAUNCHER} ranlib"]


def _plain_then_clean(tree: Path) -> dict[str, bytes]:
    """zlib built plainly at its own path, then cleaned: the bytes a build
    there must give."""
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    subprocess.run(["make", "-j2"], cwd=tree, check=True, capture_output=True)
    out = zlib_outputs(tree)
    subprocess.run(["make", "clean"], cwd=tree, check=True, capture_output=True)
    subprocess.run(["./configure"], cwd=tree, check=True, capture_output=True)
    return out


def test_zlib_at_a_second_path_on_a_second_machine_is_all_hits(tmp_path: Path) -> None:
    """The second tree is elsewhere and has its own GGCC_DIR: everything
    comes through the shared Redis, as for a CI runner in its workspace."""
    first = copy_of("zlib", tmp_path / "a")
    second = copy_of("zlib", tmp_path / "b" / "builds" / "zlib-7")
    subprocess.run(["./configure"], cwd=first, check=True, capture_output=True)
    plain = _plain_then_clean(second)
    with redis_server(tmp_path) as r:
        for n, tree in enumerate((first, second)):
            env = dict(os.environ, GGCC_DIR=str(tmp_path / f"machine{n}"), GGCC_STORAGE=r.uri)
            p = subprocess.run(GGCC + MAKE, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
            assert p.returncode == 0, p.stderr[-2000:]
        assert zlib_outputs(second) == plain
        assert f"cache hits ({_summary_hits(p.stderr)} from another build root)" in p.stderr, p.stderr[-2000:]
        s = ggcc_stats(tmp_path / "machine1")
    assert s["invocations"] >= 40 and s["cache_hits"] == s["invocations"], s
    assert s["travel"]["hits_from_other_root"] == s["invocations"] == s["remote_hits"], s
    assert s["direct_hits"] >= 30 and s["own_scans"] == s["compiler_scans"] == 0, s  # compiles: no header scan
    assert s["hits_by_tier"] == {"local_store": 0, "shared_store": s["invocations"]}, s
    assert s["errors"] == 0


def _summary_hits(err: str) -> int:
    """The hits of `ggcc make`'s summary line."""
    import re

    m = re.search(r"steps: (\d+) cache hits", err)
    assert m, err[-2000:]
    return int(m.group(1))


def _libuv(where: Path, build_type: str, flags: str, tests: bool, store: Path, compare: bool = True
           ) -> tuple[dict[str, bytes], dict[str, Any]]:
    """libuv configured and built through ggcc cmake and ggcc ninja at
    ``where`` (ROOT in ``flags`` is its path): its artifacts and stats,
    the artifacts checked against a plain build at the same path."""
    tree = copy_of("libuv1", where)
    env = dict(os.environ, GGCC_DIR=str(store))
    subprocess.run(GGCC + ["stats", "--zero"], env=env, check=True, capture_output=True)
    cmake = ["cmake", "-G", "Ninja", "-S", ".", "-B", "build", f"-DCMAKE_BUILD_TYPE={build_type}",
             f"-DCMAKE_C_FLAGS={flags.replace('ROOT', str(tree))}", f"-DLIBUV_BUILD_TESTS={'ON' if tests else 'OFF'}"]
    subprocess.run(GGCC + cmake, cwd=tree, env=env, check=True, capture_output=True)
    p = subprocess.run(GGCC + ["ninja", "-C", "build"], cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-2000:]
    ours = build_outputs(tree / "build")
    s = ggcc_stats(store)
    if not compare:
        return ours, s
    shutil.rmtree(tree / "build")  # the plain build at the same path
    subprocess.run(cmake, cwd=tree, check=True, capture_output=True)
    subprocess.run(["ninja", "-C", "build"], cwd=tree, check=True, capture_output=True)
    plain = build_outputs(tree / "build")
    assert sorted(ours) == sorted(plain) and sorted(n for n in plain if ours[n] != plain[n]) == []
    return ours, s


def _two_roots(tmp_path: Path, build_type: str, flags: str, tests: bool) -> dict[str, Any]:
    store = tmp_path / "store"
    _libuv(tmp_path / "x" / "a", build_type, flags, tests, store, compare=False)  # the first: every step runs
    return _libuv(tmp_path / "x" / "b" / "somewhere" / "else", build_type, flags, tests, store)[1]


@pytest.mark.parametrize("build_type, flags", [("Release", ""), ("Debug", "-ffile-prefix-map=ROOT=.")])
def test_libuv_in_a_second_checkout_is_hits(tmp_path: Path, build_type: str, flags: str) -> None:
    s = _two_roots(tmp_path, build_type, flags, tests=False)
    assert s["invocations"] >= 60
    assert s["cache_hits"] >= 0.95 * s["invocations"] and s["travel"]["hits_from_other_root"] >= 0.95 * s["invocations"], s


@pytest.mark.long
@pytest.mark.parametrize("build_type, flags, least_hits", [
    ("Release", "", 0.2),  # its tests' ASSERT records __FILE__ (absolute): those are not shared
    ("Debug", "", 0.0),  # every object records its directory
    ("Debug", "-ffile-prefix-map=ROOT=.", 0.95),
])
def test_libuv_with_its_tests_in_a_second_checkout(tmp_path: Path, build_type: str, flags: str,
                                                   least_hits: float) -> None:
    s = _two_roots(tmp_path, build_type, flags, tests=True)
    assert s["invocations"] >= 400
    travel_counts = s["travel"]
    assert s["cache_hits"] >= least_hits * s["invocations"], s
    if least_hits == 0.0:
        assert travel_counts["hits_from_other_root"] == 0 and travel_counts["tied_to_root"] > 400, s
