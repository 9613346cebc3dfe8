from __future__ import annotations

import os
import time
from pathlib import Path

from helpers import sh_thunk

from ggcc.execution.executor import execute
from ggcc.execution.sandbox import SandboxPool
from ggcc.formats import ids
from ggcc.storage.local_store import LocalStore


def test_runs_with_exactly_its_inputs_and_environment(store: LocalStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEAKY_SECRET", "should not be seen")
    t = sh_thunk(
        store,
        # Listed before files.txt exists (a redirect races with find).
        'set > env.txt; L=$(find . -path ./.ggcc -prune -o -type f -print | sort); echo "$L" > files.txt',
        inputs={"src/a.c": b"int a;\n", "inc/b.h": b"#define B\n"},
        outputs=["env.txt", "files.txt"],
        env={"ONLY": "this"},
    )
    r = execute(t, {}, store)
    assert r.ok, r
    env = store.read_bytes(r.output("env.txt").ref).decode()
    assert "ONLY='this'" in env or "ONLY=this" in env
    assert "LEAKY_SECRET" not in env
    files = store.read_bytes(r.output("files.txt").ref).decode().split()
    assert files == ["./env.txt", "./inc/b.h", "./src/a.c"]


def test_stdout_and_stderr_are_kept_on_success(store: LocalStore) -> None:
    t = sh_thunk(store, "echo out; echo 'warning: careful' >&2; : > o", outputs=["o"])
    r = execute(t, {}, store)
    assert r.ok
    assert r.stdout == b"out\n" and r.stderr == b"warning: careful\n"
    cached = store.get_result(t.id)
    assert cached is not None and cached.stderr == b"warning: careful\n"


def test_failure_is_reported_and_not_cached(store: LocalStore) -> None:
    t = sh_thunk(store, "echo 'error: broken' >&2; exit 3", outputs=["o"])
    r = execute(t, {}, store)
    assert r.exit_code == 3 and not r.ok
    assert r.stderr == b"error: broken\n"
    assert store.get_result(t.id) is None


def test_missing_output_is_a_failure(store: LocalStore) -> None:
    t = sh_thunk(store, "true", outputs=["never.o"])
    r = execute(t, {}, store)
    assert not r.ok and "was not produced" in r.error
    assert store.get_result(t.id) is None


def test_symlink_output_is_refused(store: LocalStore) -> None:
    t = sh_thunk(store, "ln -s /etc/passwd o", outputs=["o"])
    r = execute(t, {}, store)
    assert not r.ok and "not a regular file" in r.error


def test_timeout_kills_the_whole_process_group(store: LocalStore, tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    # A child in the background would write the marker after 2 s if it lived.
    t = sh_thunk(store, f"(sleep 2; echo alive > {marker}) & sleep 30", outputs=["o"], timeout_ms=300)
    start = time.monotonic()
    r = execute(t, {}, store)
    assert time.monotonic() - start < 5
    assert not r.ok and "timed out" in r.error
    time.sleep(2.5)
    assert not marker.exists()


def test_background_children_do_not_outlive_a_successful_thunk(store: LocalStore, tmp_path: Path) -> None:
    marker = tmp_path / "straggler"
    t = sh_thunk(store, f"(sleep 1; echo alive > {marker}) & : > o", outputs=["o"])
    assert execute(t, {}, store).ok
    time.sleep(1.5)
    assert not marker.exists()


def test_output_keeps_executable_bit(store: LocalStore) -> None:
    t = sh_thunk(store, "printf '#!/bin/sh\\n' > tool; chmod +x tool; : > data", outputs=["tool", "data"])
    r = execute(t, {}, store)
    assert r.output("tool").executable and not r.output("data").executable


def test_in_place_edit_of_declared_output_does_not_touch_the_store(store: LocalStore) -> None:
    t = sh_thunk(store, "echo more >> lib.a", inputs={"lib.a": b"archive\n"}, outputs=["lib.a"])
    original = store.put_bytes(b"archive\n")
    r = execute(t, {}, store)
    assert r.ok
    assert store.read_bytes(original) == b"archive\n"
    assert store.read_bytes(r.output("lib.a").ref) == b"archive\nmore\n"


def test_writing_into_an_undeclared_input_is_caught(store: LocalStore) -> None:
    t = sh_thunk(store, "echo sneaky >> in.txt; : > o", inputs={"in.txt": b"clean\n"}, outputs=["o"])
    vid = store.put_bytes(b"clean\n")
    r = execute(t, {}, store)
    assert not r.ok and "wrote into its input" in r.error
    assert not store.has(vid)  # the damaged store copy is gone, never served
    assert store.get_result(t.id) is None  # its outputs were collected, the result is not kept


def test_writing_into_an_input_is_caught_in_a_reused_sandbox(store: LocalStore) -> None:
    pool = SandboxPool(store, kept=1)
    t = sh_thunk(store, "cat in.txt > o", inputs={"in.txt": b"clean\n"}, outputs=["o"])
    assert execute(t, {}, store, pool).ok
    sneaky = sh_thunk(store, "cat in.txt > o; echo sneaky >> in.txt", inputs={"in.txt": b"clean\n"}, outputs=["o"])
    r = execute(sneaky, {}, store, pool)  # in.txt is the link kept from the first run
    assert not r.ok and "wrote into its input" in r.error
    assert store.get_result(sneaky.id) is None
    assert not store.has(ids.value_id_of_bytes(b"clean\n"))
    store.put_bytes(b"clean\n")  # the damaged blob was dropped; the user's build stores it again
    again = execute(t, {}, store, pool)  # the tree was reset: the input comes back whole
    assert again.ok and store.read_bytes(again.output().ref) == b"clean\n"
    pool.close()


def test_missing_input_blob_is_a_clear_failure(store: LocalStore) -> None:
    t = sh_thunk(store, ": > o", inputs={"gone.h": b"x"}, outputs=["o"])
    store.remove_blob(store.put_bytes(b"x"))
    r = execute(t, {}, store)
    assert not r.ok and "not in the store" in r.error


def test_program_that_cannot_run(store: LocalStore) -> None:
    from ggcc.formats.thunk import Input, Output, Thunk

    not_a_program = store.put_bytes(b"\x7fELF garbage")
    t = Thunk.make(Input("bin/x", not_a_program), ["x"], outputs=[Output("o", "o")])
    r = execute(t, {}, store)
    assert not r.ok and "cannot run program" in r.error


def test_sandboxes_are_removed(store: LocalStore) -> None:
    t = sh_thunk(store, "mkdir -p d; chmod 500 d; : > o", outputs=["o"])
    assert execute(t, {}, store).ok
    assert [n for n in os.listdir(store.tmp) if n.startswith("sbx-")] == []


def test_strict_sandbox_hides_the_host(store: LocalStore) -> None:
    import shutil

    import pytest

    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is required: run-tests installs it")
    # /bin/sh itself needs the host's libc, which strict mode does not show.
    t = sh_thunk(store, ": > o", outputs=["o"])
    r = execute(t, {}, store, strict=True)
    assert not r.ok and r.exit_code != 0
    loose = execute(t, {}, store, strict=False)
    assert loose.ok
