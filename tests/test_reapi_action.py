"""Thunks as REAPI Actions (ggcc/reapi/action.py), run by a generic worker
(tests/reapi_worker.py) that knows nothing of ggcc, in an input root at a
path of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from ggcc.formats import ids
from ggcc.formats.thunk import ROOT_TOKEN, Input, Output, Thunk
from ggcc.reapi.action import ROOT_FILE, ActionError, PlannedAction, Shell, capture_shell, plan, quote
from ggcc.storage.reapi_cas import digest, id_of
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore
from reapi_worker import Ran, run_action

from conftest import RunCli


def _shell(store: LocalStore) -> Shell:
    return capture_shell(store, HashCache(store.root))


def _run(store: LocalStore, planned: PlannedAction, root: Path) -> Ran:
    def fetch(d: re_pb2.Digest) -> bytes:
        id_ = id_of(d)
        return planned.messages[id_] if id_ in planned.messages else store.read_bytes(id_)

    return run_action(digest(planned.action_id), fetch, str(root))


def _program_thunk(store: LocalStore, host: str, args: list[str], env: dict[str, str], cwd: str = ".",
                   outputs: tuple[str, ...] = ()) -> Thunk:
    prog = Input(".ggcc/bin/prog", store.put_file(host), True)
    return Thunk.make(prog, [f"{ROOT_TOKEN}/.ggcc/bin/prog", *args], env, [], [Output(o, o) for o in outputs],
                      cwd=cwd, dirs=[cwd] if cwd != "." else [])


def test_arguments_and_environment_reach_the_command_exactly(store: LocalStore, tmp_path: Path) -> None:
    odd = ["a b", "it's", '"q"', "$HOME", "`x`", "back\\slash", "*", "", "new\nline", f"{ROOT_TOKEN}/in/root"]
    t = _program_thunk(store, "/usr/bin/printf", ["[%s]\\n", *odd], {"LC_ALL": "C"}, cwd="w/sub")
    ran = _run(store, plan(t, {}, _shell(store)), tmp_path / "worker root")
    assert ran.result.exit_code == 0, ran.blobs[ran.result.stderr_digest.hash]
    root = os.path.realpath(tmp_path / "worker root")
    expected = "".join(f"[{a.replace(ROOT_TOKEN, root)}]\n" for a in odd)
    assert ran.blobs[ran.result.stdout_digest.hash].decode() == expected
    # The root the command ran in comes back as an output, for the logs.
    (root_file,) = [f for f in ran.result.output_files if f.path == ROOT_FILE]
    assert ran.blobs[root_file.digest.hash].decode() == root

    env_thunk = _program_thunk(store, "/usr/bin/env", [], {"A": "1", "B": f"x{ROOT_TOKEN}y"}, cwd="w")
    ran = _run(store, plan(env_thunk, {}, _shell(store)), tmp_path / "r2")
    # Only the thunk's variables: none the shell adds (PWD, OLDPWD).
    assert ran.blobs[ran.result.stdout_digest.hash].decode().splitlines() == ["A=1", f"B=x{tmp_path / 'r2'}y"]


def test_equal_thunks_give_equal_actions_and_the_tree_is_canonical(store: LocalStore) -> None:
    shell = _shell(store)
    a = store.put_bytes(b"a")
    b = store.put_bytes(b"b")
    prog = Input(".ggcc/bin/prog", store.put_file("/usr/bin/true"), True)

    def make(order: list[Input]) -> PlannedAction:
        t = Thunk.make(prog, [f"{ROOT_TOKEN}/.ggcc/bin/prog"], {}, order, [Output("o", "out/o")])
        return plan(t, {}, shell)

    one = make([Input("z/b", b), Input("a", a, True), Input("z/a", a)])
    two = make([Input("z/a", a), Input("z/b", b), Input("a", a, True)])
    assert one.action_id == two.action_id and one.messages == two.messages
    action = re_pb2.Action.FromString(one.messages[one.action_id])
    root = re_pb2.Directory.FromString(one.messages[id_of(action.input_root_digest)])
    assert [f.name for f in root.files] == ["a"] and root.files[0].is_executable
    assert [d.name for d in root.directories] == [".ggcc", "out", "z"]  # sorted; out/ exists for the output
    z = re_pb2.Directory.FromString(one.messages[id_of(root.directories[2].digest)])
    assert [(f.name, f.is_executable) for f in z.files] == [("a", False), ("b", False)]
    # A different input is a different Action.
    assert make([Input("z/a", b), Input("z/b", b), Input("a", a, True)]).action_id != one.action_id


def test_platform_properties_are_sorted_into_the_command_and_the_action(store: LocalStore) -> None:
    from ggcc.engines import EngineSettings

    shell = _shell(store)
    prog = Input(".ggcc/bin/prog", store.put_file("/usr/bin/true"), True)
    t = Thunk.make(prog, [f"{ROOT_TOKEN}/.ggcc/bin/prog"], {}, [], [Output("o", "out/o")])
    settings = EngineSettings.from_env({"GGCC_REAPI_PLATFORM": "OSFamily=linux; ISA=x86-64"})
    assert settings.reapi_platform == (("OSFamily", "linux"), ("ISA", "x86-64"))  # names keep their case
    one = plan(t, {}, shell, settings.reapi_platform)
    two = plan(t, {}, shell, tuple(reversed(settings.reapi_platform)))
    assert one.action_id == two.action_id != plan(t, {}, shell).action_id
    action = re_pb2.Action.FromString(one.messages[one.action_id])
    command = re_pb2.Command.FromString(one.messages[id_of(action.command_digest)])
    for platform in (action.platform, command.platform):
        assert [(p.name, p.value) for p in platform.properties] == [("ISA", "x86-64"), ("OSFamily", "linux")]


def test_what_cannot_be_an_action_says_why(store: LocalStore) -> None:
    shell = _shell(store)
    prog = Input(".ggcc/bin/prog", store.put_file("/usr/bin/true"), True)
    t = Thunk.make(prog, ["true"], {}, [], [])
    with pytest.raises(ActionError) as e:
        plan(t, {}, shell)
    assert e.value.reason == "reapi-argv0"
    clash = Thunk.make(prog, [f"{ROOT_TOKEN}/.ggcc/bin/prog"], {}, [Input("d", store.put_bytes(b"x"))], [], dirs=["d/e"])
    with pytest.raises(ActionError) as e:
        plan(clash, {}, shell)
    assert e.value.reason == "reapi-tree"


def test_quote_survives_a_shell(tmp_path: Path) -> None:
    for text in ["", "'", "''", "a'b'c", f"{ROOT_TOKEN}", f"'{ROOT_TOKEN}'{ROOT_TOKEN}x"]:
        out = subprocess.run(["sh", "-c", f"R=/r; printf %s {quote(text)}"], capture_output=True, text=True, check=True)
        assert out.stdout == text.replace(ROOT_TOKEN, "/r")


def test_a_real_compile_runs_as_an_action_byte_identical(run_cli: RunCli, store: LocalStore, tmp_path: Path) -> None:
    work: Path = run_cli.work  # type: ignore[attr-defined]
    (work / "inc").mkdir()
    (work / "inc" / "h.h").write_text("#define GREETING \"hi from \" __FILE__\n")
    (work / "a.c").write_text('#include <stdio.h>\n#include "h.h"\n'
                              'int main(void) { int unused; puts(GREETING); return 0; }\n')
    (work / "obj").mkdir()
    argv = ["gcc", "-g", "-O2", "-Wall", "-Iinc", "-c", "a.c", "-o", "obj/a.o"]
    subprocess.run(argv, cwd=work, check=True, capture_output=True)
    plain = (work / "obj" / "a.o").read_bytes()
    (work / "obj" / "a.o").unlink()
    p = run_cli(*argv, check=True)
    assert (work / "obj" / "a.o").read_bytes() == plain
    run_cli("daemon", "sync", check=True)  # a compile run in place is filed after its answer
    compiles = []
    for shard in (Path(store.root) / "results").iterdir():
        for f in shard.iterdir():
            tid = ids.THUNK + f.name
            if store.has(tid):
                t = store.load_thunk(tid)
                if t.outputs and t.outputs[0].path.endswith("obj/a.o"):
                    compiles.append(t)
    (thunk,) = compiles
    planned = plan(thunk, {}, _shell(store))
    ran = _run(store, planned, tmp_path / "a" / "worker" / "root")
    stderr = ran.blobs[ran.result.stderr_digest.hash]
    assert ran.result.exit_code == 0, stderr
    (obj,) = [f for f in ran.result.output_files if f.path == thunk.outputs[0].path]
    assert ran.blobs[obj.digest.hash] == plain  # another root, the same object
    assert b"unused" in stderr and b"unused" in p.stderr.encode()


def test_the_address_names_the_server_only_and_secrets_stay_out_of_messages() -> None:
    from ggcc.base.errors import GgccError
    from ggcc.base.settings import problems
    from ggcc.engines import EngineSettings
    from ggcc.base.reapi_uri import parse_target

    assert parse_target("grpc://127.0.0.1:8980").address == "127.0.0.1:8980"
    assert parse_target("grpcs://remote.example:443/").tls
    for bad in ("http://h:1", "grpc://h", "grpc://user:s3cret@h:1", "grpc://h:1/instance?key=s3cret", "h:1"):
        with pytest.raises(GgccError) as e:
            parse_target(bad)
        assert "s3cret" not in e.value.message and e.value.message.startswith("GGCC_REAPI")
    said = problems({"GGCC_ENGINE": "reapi", "GGCC_REAPI": "grpc://tok:s3cret@h:1"})
    assert said and not any("s3cret" in p for p in said), said
    assert any("GGCC_REAPI=grpc://host:port" in p for p in problems({"GGCC_ENGINE": "reapi"}))
    s = EngineSettings.from_env({"GGCC_ENGINE": "reapi", "GGCC_REAPI": "grpc://h:1",
                                 "GGCC_REAPI_HEADERS": "Authorization=Bearer a=b; x-key=s3cret"})
    assert s.reapi_access.headers == (("authorization", "Bearer a=b"), ("x-key", "s3cret"))
    assert "s3cret" not in repr(s)
    assert problems({"GGCC_REAPI_HEADERS": "no pair here"})


def test_the_engine_without_its_extra_says_what_to_install(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from ggcc.base.errors import GgccError
    from ggcc.engines import EngineSettings, make_engine
    from ggcc.engines.local import LocalEngine

    monkeypatch.setitem(sys.modules, "grpc", None)  # as if grpcio were not installed
    monkeypatch.delitem(sys.modules, "ggcc.engines.reapi", raising=False)
    monkeypatch.delitem(sys.modules, "ggcc.reapi.client", raising=False)
    settings = EngineSettings(name="reapi", reapi_uri="grpc://127.0.0.1:1")
    with pytest.raises(GgccError) as e:
        make_engine(settings, store, 1)
    assert "pip install 'ggcc[reapi]'" in e.value.message and "grpc" in e.value.message
    said: list[str] = []
    engine = make_engine(settings, store, 1, on_error=said.append)  # the daemon: told why, runs here
    assert isinstance(engine, LocalEngine) and "ggcc[reapi]" in said[0]
    engine.shutdown()
