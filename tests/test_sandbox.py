"""Reused sandboxes: each run sees exactly its own inputs, whatever ran before."""

from __future__ import annotations

import os

from helpers import flip_in_place, sh_thunk

from ggcc.execution.executor import execute
from ggcc.execution.sandbox import SandboxPool
from ggcc.storage.local_store import LocalStore

# The listing is taken before the file that holds it exists.
LIST = 'L=$(find . -path ./.ggcc -prune -o -print | sort); M=$(ls -l a.h | cut -c1-10); printf "%s\n%s\n" "$L" "$M" > listing'


def _listing(store: LocalStore, r) -> list[str]:  # type: ignore[no-untyped-def]
    assert r.ok, r
    return store.read_bytes(r.output("listing").ref).decode().split("\n")[:-1]


def test_second_run_sees_exactly_its_inputs(store: LocalStore) -> None:
    pool = SandboxPool(store, kept=1)  # one sandbox: every run reuses it
    first = sh_thunk(
        store,
        # Leave litter everywhere: new files, new dirs, a deleted input, a
        # replaced input, a chmod'ed input and a read-only directory.
        "mkdir -p junk/deep; echo x > junk/deep/f; echo y > inc/new.h; rm b.h;"
        " echo replaced > c.h.tmp; mv c.h.tmp c.h; chmod 777 a.h; mkdir ro; chmod 500 ro; : > o",
        inputs={"a.h": b"A\n", "b.h": b"B\n", "c.h": b"C\n", "inc/i.h": b"I\n", "gone/g.h": b"G\n"},
        outputs=["o"],
    )
    assert execute(first, {}, store, pool).ok
    second = sh_thunk(
        store,
        LIST + "; cat a.h b.h c.h inc/i.h > cat",
        inputs={"a.h": b"A\n", "b.h": b"B\n", "c.h": b"C\n", "inc/i.h": b"I\n"},
        outputs=["listing", "cat"],
    )
    r = execute(second, {}, store, pool)
    fresh = execute(second, {}, store)  # the same thunk in a brand-new sandbox
    assert _listing(store, r) == _listing(store, fresh)
    assert _listing(store, r)[:-1] == [".", "./a.h", "./b.h", "./c.h", "./inc", "./inc/i.h"]
    assert _listing(store, r)[-1] == "-r--r--r--"  # the chmod through the link was undone
    assert store.read_bytes(r.output("cat").ref) == b"A\nB\nC\nI\n"
    pool.close()
    assert [n for n in os.listdir(store.tmp) if n.startswith("sbx-")] == []


def test_inputs_are_reused_only_when_identical(store: LocalStore) -> None:
    pool = SandboxPool(store, kept=1)  # one sandbox: every run reuses it
    one = sh_thunk(store, "cat h > o", inputs={"h": b"one\n"}, outputs=["o"])
    two = sh_thunk(store, "cat h > o", inputs={"h": b"two\n"}, outputs=["o"])
    three = sh_thunk(store, "test -x h && cat h > o", inputs={"h": b"one\n"}, outputs=["o"])
    r1, r2 = execute(one, {}, store, pool), execute(two, {}, store, pool)
    assert store.read_bytes(r1.output().ref) == b"one\n"
    assert store.read_bytes(r2.output().ref) == b"two\n"
    r3 = execute(three, {}, store, pool)  # h is not executable here
    assert not r3.ok and r3.exit_code == 1
    pool.close()


def test_a_path_that_was_a_file_becomes_a_directory(store: LocalStore) -> None:
    pool = SandboxPool(store, kept=1)  # one sandbox: every run reuses it
    a = sh_thunk(store, ": > o", inputs={"x": b"file\n"}, outputs=["o"])
    b = sh_thunk(store, "cat x/y > o", inputs={"x/y": b"nested\n"}, outputs=["o"])
    c = sh_thunk(store, "cat x > o", inputs={"x": b"file again\n"}, outputs=["o"])
    assert execute(a, {}, store, pool).ok
    rb = execute(b, {}, store, pool)
    assert rb.ok and store.read_bytes(rb.output().ref) == b"nested\n"
    rc = execute(c, {}, store, pool)
    assert rc.ok and store.read_bytes(rc.output().ref) == b"file again\n"
    pool.close()


def test_output_in_a_reused_tree_is_not_stale(store: LocalStore) -> None:
    pool = SandboxPool(store, kept=1)  # one sandbox: every run reuses it
    makes = sh_thunk(store, "echo first > out", outputs=["out"])
    forgets = sh_thunk(store, "true", outputs=["out"])  # must not find the old one
    assert execute(makes, {}, store, pool).ok
    r = execute(forgets, {}, store, pool)
    assert not r.ok and "was not produced" in r.error
    pool.close()


def test_declared_directories_exist_and_do_not_linger(store: LocalStore) -> None:
    from ggcc.formats.thunk import Input, Output, Thunk

    pool = SandboxPool(store, kept=1)  # one sandbox: every run reuses it
    sh = Input(".ggcc/bin/sh", store.put_file("/bin/sh"), True)
    with_dirs = Thunk.make(sh, ["sh", "-c", "test -d inc/empty && test -d other && : > o"], outputs=[Output("o", "o")], dirs=["inc/empty", "other"])
    without = Thunk.make(sh, ["sh", "-c", "test ! -e inc && test ! -e other && : > o"], outputs=[Output("o", "o")])
    assert execute(with_dirs, {}, store, pool).ok
    assert execute(without, {}, store, pool).ok
    pool.close()


def test_a_step_gets_the_sandbox_that_last_ran_it(store: LocalStore) -> None:
    """After an edit the same steps run again: each finds its own tree (a
    marker file the sandbox keeps shows which one it got), and what it sees
    is still exactly its inputs."""
    pool = SandboxPool(store, kept=3)
    probe = 'ls > seen; cat x > out'
    steps = {name: sh_thunk(store, probe.replace("out", name), inputs={"x": name.encode(), f"only-{name}": b"1"},
                            outputs=[name, "seen"])
             for name in ("a.o", "b.o", "prog")}
    roots = {}
    for name, t in steps.items():
        sb = pool.acquire(t.outputs[0].path)
        roots[name] = sb.dir
        pool.release(sb, t.outputs[0].path)
    assert len(set(roots.values())) == 3  # fewer than `kept` alive: each step got a new one
    for name in ("prog", "a.o", "b.o"):  # again, in another order
        sb = pool.acquire(steps[name].outputs[0].path)
        assert sb.dir == roots[name]
        pool.release(sb, steps[name].outputs[0].path)
    for name, t in steps.items():  # and through the executor: exactly the inputs
        r = execute(t, {}, store, pool)
        assert r.ok and store.read_bytes(r.output("seen").ref).decode().split() == sorted(["seen", "x", f"only-{name}"])
    other = pool.acquire("another.o")  # no match and `kept` alive: the most recently used
    assert other.dir == roots["prog"]
    pool.release(other, "another.o")
    pool.close()
    assert [n for n in os.listdir(store.tmp) if n.startswith("sbx-")] == []


def test_an_input_damaged_in_the_store_between_runs_is_never_used(store: LocalStore) -> None:
    """A kept input is the store's inode: bytes flipped in it while the
    sandbox waits in the pool (size and mtime kept) are found before the
    next run, which then fails to set up (the blob is gone) instead of
    reading them; the store knows it from then on."""
    from ggcc.execution.executor import CORRUPT_INPUT
    
    pool = SandboxPool(store, kept=1)
    header = b"#define K 12345\n" * 50
    first = sh_thunk(store, "cat a.h > o", inputs={"a.h": header}, outputs=["o"])
    assert execute(first, {}, store, pool).ok
    vid = store.put_bytes(header)
    flip_in_place(store.blob_path(vid))
    second = sh_thunk(store, "cat a.h > o2", inputs={"a.h": vid}, outputs=["o2"])
    r = execute(second, {}, store, pool)
    assert not r.ok and r.error.startswith(CORRUPT_INPUT), r
    assert not store.has(vid)
    pool.close()


def test_an_input_kept_from_before_the_store_replaced_it_is_not_reused(store: LocalStore) -> None:
    """The kept file was the store's inode; the store then found that inode
    damaged (through another sandbox), removed it and stored the bytes
    afresh: the old inode, still kept here, must not be used."""
    from ggcc.storage.local_store import CorruptBlob

    pool = SandboxPool(store, kept=1)
    header = b"#define K 12345\n" * 50
    assert execute(sh_thunk(store, "cat a.h > o", inputs={"a.h": header}, outputs=["o"]), {}, store, pool).ok
    vid = store.put_bytes(header)
    flip_in_place(store.blob_path(vid))
    try:
        store.check(vid)
        raise AssertionError("not found damaged")
    except CorruptBlob:
        pass
    assert store.put_bytes(header) == vid  # stored afresh: another inode
    r = execute(sh_thunk(store, "cat a.h > o2", inputs={"a.h": vid}, outputs=["o2"]), {}, store, pool)
    assert r.ok and store.read_bytes(r.output("o2").ref) == header
    pool.close()
