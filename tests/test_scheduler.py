from __future__ import annotations

from helpers import sh_thunk

from ggcc.engines.local import LocalEngine
from ggcc.engines.scheduler import force
from ggcc.formats.thunk import Input, Output, Thunk
from ggcc.storage.local_store import LocalStore


def _force(store: LocalStore, refs: list[str], jobs: int = 2):  # type: ignore[no-untyped-def]
    engine = LocalEngine(store, jobs)
    try:
        return force(refs, store, engine)
    finally:
        engine.shutdown()


def test_diamond_runs_the_shared_thunk_once(store: LocalStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "runs.log"
    top = sh_thunk(store, f"echo top >> {log}; echo 1 > n", outputs=["n"])
    left = sh_thunk(store, f"echo left >> {log}; expr $(cat n) + 10 > l", inputs={"n": top.id}, outputs=["l"])
    right = sh_thunk(store, f"echo right >> {log}; expr $(cat n) + 100 > r", inputs={"n": top.id}, outputs=["r"])
    bottom = sh_thunk(
        store, "expr $(cat l) + $(cat r) > sum", inputs={"l": left.id, "r": f"{right.id}#r"}, outputs=["sum"]
    )
    report = _force(store, [bottom.id])
    assert report.ok, report.failures
    assert store.read_bytes(report.values[bottom.id].ref) == b"112\n"
    assert sorted(log.read_text().split()) == ["left", "right", "top"]
    assert report.executed == 4
    again = _force(store, [bottom.id])
    assert again.executed == 0 and again.hits == 1
    assert log.read_text().count("top") == 1


def test_dynamic_graph_forces_until_a_value(store: LocalStore) -> None:
    final = sh_thunk(store, "echo 42 > answer", outputs=["answer"])
    middle = Thunk.make(
        Input("bin/cp", store.put_file("/bin/cp"), True),
        ["cp", "t", "out"],
        inputs=[Input("t", store.put_bytes(final.serialize()))],
        outputs=[Output("out", "out")],
    )
    store.put_thunk(middle)
    report = _force(store, [middle.id])
    assert report.ok, report.failures
    assert store.read_bytes(report.values[middle.id].ref) == b"42\n"
    assert report.executed == 2


def test_failure_propagates_and_reports_the_root_cause(store: LocalStore) -> None:
    bad = sh_thunk(store, "echo 'error: no' >&2; exit 1", outputs=["x"])
    dep = sh_thunk(store, "cp x y", inputs={"x": bad.id}, outputs=["y"])
    good = sh_thunk(store, "echo fine > z", outputs=["z"])
    report = _force(store, [dep.id, good.id])
    assert not report.ok
    assert [f.thunk_id for f in report.failures] == [bad.id]
    assert report.failures[0].result is not None and report.failures[0].result.stderr == b"error: no\n"
    assert good.id in report.values and dep.id not in report.values


def test_long_chain_does_not_hit_recursion_limits(store: LocalStore) -> None:
    prev = sh_thunk(store, "echo 0 > v", outputs=["v"])
    cp = Input("bin/cp", store.put_file("/bin/cp"), True)
    for i in range(1200):  # deeper than Python's default recursion limit
        t = Thunk.make(cp, ["cp", "in", "v"], {"STEP": str(i)}, [Input("in", prev.id)], [Output("v", "v")])
        store.put_thunk(t)
        prev = t
    report = _force(store, [prev.id], jobs=2)
    assert report.ok, report.failures
    assert report.executed == 1201
    assert store.read_bytes(report.values[prev.id].ref) == b"0\n"
    again = _force(store, [prev.id])
    assert again.hits == 1 and again.executed == 0


def test_unknown_thunk_is_a_clear_failure(store: LocalStore) -> None:
    from ggcc.formats import ids

    missing = ids.thunk_id_of_bytes(b"never stored")
    report = _force(store, [missing])
    assert not report.ok and "not in the store" in report.failures[0].message


def test_thunk_without_outputs_is_forced_for_its_exit_code(store: LocalStore) -> None:
    ok = sh_thunk(store, "exit 0")
    bad = sh_thunk(store, "exit 4")
    report = _force(store, [ok.id, bad.id])
    assert [f.thunk_id for f in report.failures] == [bad.id]
    assert ok.id not in report.values and report.executed == 2
    assert store.get_result(ok.id) is not None
