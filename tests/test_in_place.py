"""A local miss run in place (launcher/in_place.py): the compiler's own
bytes and messages, its depfile's inputs filed as the thunk, hits after;
nothing filed that the depfile cannot vouch for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import stop_daemons

GGCC = [sys.executable, "-m", "ggcc"]
CMD = ["gcc", "-O2", "-g", "-Wall", "-Iinc", "-Iinc2", "-c", "a.c", "-o", "obj/a.o"]


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    for d in ("inc", "inc2", "obj"):
        (p / d).mkdir(parents=True)
    (p / "inc" / "conf.h").write_text("#define ANSWER 42\n")
    (p / "a.c").write_text(
        '#include <stdio.h>\n#include "conf.h"\n'
        "int f(int x) { int unused; return x + ANSWER; }\n"
        'int main(void) { printf("%d %s\\n", f(1), __FILE__); return 0; }\n'
    )
    _age(p / "a.c", p / "inc" / "conf.h")
    return p


@pytest.fixture(autouse=True)
def _stop(tmp_path: Path):  # type: ignore[no-untyped-def]
    yield
    stop_daemons(tmp_path)


def _age(*files: Path) -> None:
    old = time.time() - 10  # written well before any compile of the test
    for f in files:
        os.utime(f, (old, old))


def run(cmd: list[str], cwd: Path, store: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("GGCC_")}
    e.update(GGCC_DIR=str(store), GGCC_LOCAL_RUN="in-place")
    e.update(env)
    return subprocess.run(GGCC + cmd, cwd=cwd, capture_output=True, env=e, timeout=300)


def stats(store: Path) -> dict:  # type: ignore[type-arg]
    """The counters, once the daemon has filed what it ran (stopping it
    files what is pending)."""
    env = dict(os.environ, GGCC_DIR=str(store))
    subprocess.run(GGCC + ["daemon", "stop"], capture_output=True, env=env, timeout=60)
    p = subprocess.run(GGCC + ["stats", "--json"], capture_output=True, text=True, env=env, check=True)
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def plain(cmd: list[str], cwd: Path, outputs: list[str]) -> tuple[subprocess.CompletedProcess[bytes], dict[str, bytes | None]]:
    for o in outputs:
        (cwd / o).unlink(missing_ok=True)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True)
    got = {o: (cwd / o).read_bytes() if (cwd / o).exists() else None for o in outputs}
    for o in outputs:
        (cwd / o).unlink(missing_ok=True)
    return p, got


def through_ggcc(cmd: list[str], cwd: Path, store: Path, outputs: list[str], **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run through ggcc; the same exit, messages and bytes as plain gcc."""
    want_p, want = plain(cmd, cwd, outputs)
    ours = run(cmd, cwd, store, **env)
    assert (ours.returncode, ours.stdout, ours.stderr) == (want_p.returncode, want_p.stdout, want_p.stderr)
    for o in outputs:
        assert ((cwd / o).read_bytes() if (cwd / o).exists() else None) == want[o], f"{o} differs"
    return ours


def test_a_miss_runs_in_place_then_hits_the_same_bytes_and_messages(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    for deps in ([], ["-MD"], ["-MD", "-MP", "-MT", "x.o", "-MQ", "$y"]):
        cmd = CMD + deps
        outs = ["obj/a.o"] + (["obj/a.d"] if deps else [])
        first = through_ggcc(cmd, proj, store, outs)
        assert b"warning: unused variable" in first.stderr
        if not deps:
            assert sorted(os.listdir(proj / "obj")) == ["a.o"]  # ggcc's own depfile left nothing behind
        again = through_ggcc(cmd, proj, store, outs)
        assert again.stderr == first.stderr
    s = stats(store)
    assert (s["executed"], s["in_place"], s["direct_hits"], s["own_scans"]) == (3, 3, 3, 0), s
    assert s["unfiled"] == {} and s["errors"] == 0, s


def test_the_result_is_the_thunk_the_sandbox_runs(proj: Path, tmp_path: Path) -> None:
    """Filed under the thunk the sandbox would run: a second machine
    sharing the store through another way of running gets a hit."""
    a, b = tmp_path / "a", tmp_path / "b"
    through_ggcc(CMD + ["-MD"], proj, a, ["obj/a.o", "obj/a.d"])
    assert stats(a)["in_place"] == 1
    results = sorted(p.name for p in (a / "results").glob("*/*"))
    through_ggcc(CMD + ["-MD"], proj, b, ["obj/a.o", "obj/a.d"], GGCC_LOCAL_RUN="sandbox")
    s = stats(b)
    assert (s["in_place"], s["own_scans"], s["executed"]) == (0, 1, 1), s
    assert sorted(p.name for p in (b / "results").glob("*/*")) == results


def test_an_input_written_during_the_compile_is_not_filed(proj: Path, tmp_path: Path) -> None:
    """A header whose time is not before the compile's start: what the
    compiler read may not be what is hashed now. The build's object is the
    compiler's; nothing is filed, so the next build compiles again."""
    store = tmp_path / "s"
    future = time.time() + 30
    os.utime(proj / "inc" / "conf.h", (future, future))
    through_ggcc(CMD, proj, store, ["obj/a.o"])
    stats(store)  # whatever it files is filed
    _age(proj / "inc" / "conf.h")  # the same bytes, an old time: filed, it would be a hit now
    through_ggcc(CMD, proj, store, ["obj/a.o"])
    s = stats(store)
    assert s["unfiled"] == {"input-written-during-compile": 1} and s["executed"] == 2 and s["cache_hits"] == 0, s


def test_an_input_saved_a_tick_before_the_compile_is_filed_and_one_after_is_not(tmp_path: Path) -> None:
    """The start is read from the clock file times come from: a source
    saved just before its compile (an editor's save, a build at once) is
    vouched for; one written after the start never is, on any file system
    grain."""
    from ggcc.launcher.in_place import file_clock_ns, not_before, written_since

    before = tmp_path / "saved.c"
    before.write_text("int x;\n")
    t = os.stat(before).st_mtime_ns
    while file_clock_ns() <= t:  # the next tick of the coarse clock: at most 10 ms
        time.sleep(0.001)
    start = file_clock_ns()
    assert time.time_ns() - t < 40_000_000  # well inside the slack the fine clock needed
    assert not_before(start, str(tmp_path), ("saved.c",)) == ""
    after = tmp_path / "after.c"
    after.write_text("int y;\n")
    assert not_before(start, str(tmp_path), ("saved.c", "after.c")) == "input-written-during-compile"
    assert not_before(start, str(tmp_path), ("gone.c",)) == "input-gone"
    s = 12_345_678_901_234_567
    assert not written_since(s - 1, s) and written_since(s, s) and written_since(s + 1, s)
    assert written_since(12_000_000_000_000_000, 12_000_000_000_400_000)  # whole seconds: this second counts
    assert written_since(12_000_000_000_000_000, 12_000_000_001_000_000)  # FAT's two
    assert not written_since(11_998_000_000_000_000, 12_000_000_000_400_000)


def test_a_source_whose_asm_reads_a_file_is_not_filed(proj: Path, tmp_path: Path) -> None:
    """The assembler's .incbin is in no depfile: run, never filed."""
    store = tmp_path / "s"
    (proj / "blob.bin").write_bytes(b"one")
    (proj / "b.c").write_text('__asm__(".section .rodata\\n.incbin \\"blob.bin\\"\\n.previous");\nint x;\n')
    _age(proj / "blob.bin", proj / "b.c")
    cmd = ["gcc", "-c", "b.c", "-o", "obj/b.o"]
    through_ggcc(cmd, proj, store, ["obj/b.o"])
    (proj / "blob.bin").write_bytes(b"two")
    _age(proj / "blob.bin")
    through_ggcc(cmd, proj, store, ["obj/b.o"])  # the new bytes, not the first object
    s = stats(store)
    assert s["unfiled"] == {"asm-reads-file": 2} and s["cache_hits"] == 0, s


def test_a_precompiled_header_beside_a_header_is_not_filed(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    subprocess.run(["gcc", "-O2", "-g", "-Wall", "-x", "c-header", "inc/conf.h", "-o", "inc/conf.h.gch"], cwd=proj, check=True)
    _age(proj / "inc" / "conf.h.gch")
    through_ggcc(CMD, proj, store, ["obj/a.o"])
    through_ggcc(CMD, proj, store, ["obj/a.o"])
    s = stats(store)
    assert s["unfiled"] == {"precompiled-header": 2} and s["cache_hits"] == 0, s


def test_a_header_that_appears_earlier_in_the_search_is_a_miss(proj: Path, tmp_path: Path) -> None:
    """The record's absent paths come from the own scanner."""
    store = tmp_path / "s"
    through_ggcc(CMD, proj, store, ["obj/a.o"])
    stats(store)  # filed
    (proj / "conf.h").write_text("#define ANSWER 7\n")  # beside a.c: found before inc/ now
    _age(proj / "conf.h")
    through_ggcc(CMD, proj, store, ["obj/a.o"])
    s = stats(store)
    assert s["executed"] == 2 and s["cache_hits"] == 0, s


@pytest.mark.parametrize("local_run", ["in-place", "sandbox"])
def test_a_header_a_failed_has_include_looked_for_appearing_is_a_miss_without_the_own_scanner(
        tmp_path: Path, local_run: str) -> None:
    """-include keeps the own scanner out (forced-include): the record then
    comes from the compiler's list of what it read, which names no probe.
    A header a __has_include looked for and missed must still be absent."""
    p = tmp_path / "proj"
    (p / "inc").mkdir(parents=True)
    (p / "forced.h").write_text("#define FORCED 1\n")
    (p / "a.c").write_text("#if __has_include(<probe.h>)\n#include <probe.h>\n#else\n#define PROBE 0\n#endif\n"
                           "int v = PROBE + FORCED;\n")
    _age(p / "forced.h", p / "a.c")
    cmd = ["gcc", "-O2", "-Iinc", "-include", "forced.h", "-c", "a.c", "-o", "a.o"]
    store = tmp_path / "s"
    through_ggcc(cmd, p, store, ["a.o"], GGCC_LOCAL_RUN=local_run)
    through_ggcc(cmd, p, store, ["a.o"], GGCC_LOCAL_RUN=local_run)  # answered from the record
    stats(store)
    (p / "inc" / "probe.h").write_text("#define PROBE 7\n")
    _age(p / "inc" / "probe.h")
    through_ggcc(cmd, p, store, ["a.o"], GGCC_LOCAL_RUN=local_run)  # plain gcc's bytes: v is 8 now
    s = stats(store)
    assert (s["direct_hits"], s["executed"]) == (1, 2), s


def test_a_header_an_has_include_finds_and_nothing_includes_is_an_input_without_the_own_scanner(
        tmp_path: Path) -> None:
    """The sandbox holds what the compile reads; a header only tested for
    must be there too, or the test answers differently inside it."""
    p = tmp_path / "proj"
    (p / "inc").mkdir(parents=True)
    (p / "inc" / "feature.h").write_text("/* present */\n")
    (p / "forced.h").write_text("#define FORCED 1\n")
    (p / "a.c").write_text("#if __has_include(<feature.h>)\nint v = 2 + FORCED;\n#else\nint v = FORCED;\n#endif\n")
    _age(p / "forced.h", p / "a.c", p / "inc" / "feature.h")
    cmd = ["gcc", "-O2", "-Iinc", "-include", "forced.h", "-c", "a.c", "-o", "a.o"]
    through_ggcc(cmd, p, tmp_path / "s", ["a.o"], GGCC_LOCAL_RUN="sandbox")  # plain gcc's bytes: v is 3
    (p / "inc" / "feature.h").unlink()
    through_ggcc(cmd, p, tmp_path / "s", ["a.o"], GGCC_LOCAL_RUN="sandbox")  # and now 1: not the record's


def test_a_failed_compile_says_what_gcc_says_once(proj: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    (proj / "bad.c").write_text("int f(void) { return nope; }\n")
    _age(proj / "bad.c")
    p = through_ggcc(["gcc", "-c", "bad.c", "-o", "obj/bad.o"], proj, store, ["obj/bad.o"])
    assert p.returncode == 1 and b"nope" in p.stderr
    s = stats(store)
    assert s["local_fallbacks"] == {"compile-failed": 1} and s["executed"] == 0, s


def test_what_runs_in_the_sandbox_still(proj: Path, tmp_path: Path) -> None:
    """-MMD (the depfile leaves system headers out), the setting, the
    strict sandbox, an assembler source: the sandbox path."""
    store = tmp_path / "s"
    (proj / "s.S").write_text(".globl g\ng: ret\n")
    _age(proj / "s.S")
    through_ggcc(CMD + ["-MMD"], proj, store, ["obj/a.o", "obj/a.d"])
    through_ggcc(CMD + ["-DX=1"], proj, store, ["obj/a.o"], GGCC_LOCAL_RUN="sandbox")
    through_ggcc(CMD + ["-DX=2"], proj, store, ["obj/a.o"], GGCC_SANDBOX="strict")
    through_ggcc(["gcc", "-c", "s.S", "-o", "obj/s.o"], proj, store, ["obj/s.o"])
    s = stats(store)
    assert (s["executed"], s["in_place"]) == (4, 0), s


def test_a_store_cleared_as_the_object_goes_in_is_unfiled_not_an_error(proj: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`ggcc cache clear` under a build may remove a shard between its
    mkdir and the object's link (seen in CI): only cache is lost, counted
    as the sandbox's runs count it; a full disk stays an error."""
    import errno

    from ggcc.commands.stats_report import as_dict, summary
    from ggcc.launcher import in_place
    from ggcc.launcher.args import parse
    from ggcc.launcher.context import Context
    from ggcc.launcher.request import Done, Request

    root = str(tmp_path / "s")
    ctx = Context(root, jobs=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GGCC_")}
    req = Request(tuple(CMD), "/usr/bin/gcc", env, str(proj), 0o022)
    parsed = parse(CMD[1:])
    store = ctx.store(env)
    for err in (OSError(errno.ENOENT, "No such file or directory", os.path.join(root, "blobs", "b7")),
                OSError(errno.ENOSPC, "No space left on device")):
        def put_made(path: str, err: OSError = err) -> str:
            raise err

        monkeypatch.setattr(store.local, "put_made", put_made)
        got = in_place.run(req, ctx, parsed, store, "C", "")
        assert isinstance(got, Done) and got.code == 0 and (proj / "obj" / "a.o").exists()
    s = as_dict(summary(root))
    assert s["unfiled"] == {"store-changed": 1, "store-failed": 1}, s
    assert s["error_kinds"] == {"in-place: [Errno 28] No space left on device": 1}, s
