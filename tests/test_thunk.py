"""Serialization is canonical and ids are stable: one thunk, one byte form, one id."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ggcc.formats import ids
from ggcc.formats.thunk import MAGIC, Input, Output, Thunk, ThunkFormatError, parse_thunk

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-+.", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..")
)
relpath = st.lists(segment, min_size=1, max_size=4).map("/".join)
value_id = st.binary(max_size=64).map(ids.value_id_of_bytes)
thunk_ref = st.tuples(st.binary(max_size=64).map(ids.thunk_id_of_bytes), st.sampled_from(["", "#out", "#a.o"])).map(
    lambda t: t[0] + t[1]
)
ref = st.one_of(value_id, thunk_ref)
arg = st.text(max_size=20).filter(lambda s: "\0" not in s)
env_name = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=6)


@st.composite
def thunks(draw: st.DrawFn) -> Thunk:
    prog = Input(draw(relpath.map(lambda p: "bin/" + p)), draw(ref), True)
    inputs = draw(st.lists(st.builds(Input, relpath.map(lambda p: "in/" + p), ref, st.booleans()), max_size=6, unique_by=lambda i: i.path))
    outputs = draw(
        st.lists(st.builds(Output, segment, relpath.map(lambda p: "out/" + p)), max_size=4, unique_by=(lambda o: o.tag, lambda o: o.path))
    )
    return Thunk.make(
        prog,
        draw(st.lists(arg, min_size=1, max_size=6)),
        draw(st.dictionaries(env_name, arg, max_size=4)),
        inputs,
        outputs,
        cwd=draw(st.one_of(st.just("."), relpath)),
        timeout_ms=draw(st.integers(0, 10**7)),
        dirs=draw(st.lists(relpath, max_size=3)),
    )


@settings(max_examples=300)
@given(thunks())
def test_round_trip_is_exact(t: Thunk) -> None:
    data = t.serialize()
    back = parse_thunk(data)
    assert back == t
    assert back.serialize() == data
    assert back.id == t.id == ids.thunk_id_of_bytes(data)


@settings(max_examples=100)
@given(thunks(), st.randoms())
def test_input_order_does_not_change_the_id(t: Thunk, rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(t.inputs)
    rnd.shuffle(shuffled)
    env = dict(reversed(t.env))
    same = Thunk.make(t.program, t.args, env, shuffled, t.outputs, t.cwd, t.timeout_ms, list(reversed(t.dirs)))
    assert same.id == t.id


@settings(max_examples=100)
@given(thunks())
def test_non_canonical_bytes_are_refused(t: Thunk) -> None:
    obj = json.loads(t.serialize()[len(MAGIC):])
    pretty = MAGIC + json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n"
    with pytest.raises(ThunkFormatError):
        parse_thunk(pretty)


def test_id_is_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "from ggcc.formats.thunk import Thunk, Input, Output\n"
        "from ggcc.formats import ids\n"
        "v = ids.value_id_of_bytes(b'x')\n"
        "t = Thunk.make(Input('bin/cc', v), ['cc', '-c', 'a.c', '\u00e9\\udc80'], {'B': '1', 'A': '2'},\n"
        "  [Input('z.c', v), Input('a.c', v, True)], [Output('o', 'a.o')])\n"
        "print(t.id)\n"
    )
    seen = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        seen.add(out.stdout.strip())
    assert len(seen) == 1
    assert ids.is_valid_id(seen.pop())


V = ids.value_id_of_bytes(b"v")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(outputs=[Output("o", "../escape")]), "escape"),
        (dict(outputs=[Output("o", "/etc/passwd")]), "absolute"),
        (dict(outputs=[Output("o", "a/./b")]), "normalized"),
        (dict(inputs=[Input("../up", V)]), "escape"),
        (dict(inputs=[Input("a", "not-an-id")]), "not a value id"),
        (dict(inputs=[Input("a", V + "#tag")]), "takes no"),
        (dict(outputs=[Output("o", ".ggcc/x")]), "reserved"),
        (dict(outputs=[Output("o", "a"), Output("o", "b")]), "unique"),
        (dict(cwd="../x"), "escape"),
        (dict(dirs=["/abs"]), "absolute"),
        (dict(timeout_ms=-1), "timeout"),
    ],
)
def test_invalid_thunks_are_refused(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    base: dict = dict(program=Input("bin/p", V), args=["p"])  # type: ignore[type-arg]
    base.update(kwargs)
    with pytest.raises(ThunkFormatError, match=message):
        Thunk.make(**base)


@pytest.mark.parametrize("cut", [0, 5, len(MAGIC), len(MAGIC) + 10, -2])
def test_truncated_thunk_is_refused(cut: int) -> None:
    data = Thunk.make(Input("bin/p", V), ["p"], outputs=[Output("o", "o")]).serialize()
    with pytest.raises(ThunkFormatError):
        parse_thunk(data[:cut])


def test_tampered_thunk_with_unknown_field_is_refused() -> None:
    data = Thunk.make(Input("bin/p", V), ["p"]).serialize()
    obj = json.loads(data[len(MAGIC):])
    obj["extra"] = 1
    with pytest.raises(ThunkFormatError, match="wrong fields"):
        parse_thunk(MAGIC + json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n")


def test_an_output_is_a_thunk_only_if_it_parses_as_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ggcc.formats.thunk import kind_of_output

    t = Thunk.make(Input("bin/true", ids.value_id_of_bytes(b"x"), True), ["bin/true"], {}, [], [Output("o", "o")])
    (tmp_path / "thunk").write_bytes(t.serialize())
    (tmp_path / "value").write_bytes(b"int main;\n")
    (tmp_path / "fake").write_bytes(MAGIC + b"{not json")
    assert kind_of_output(str(tmp_path / "thunk")) == ids.THUNK
    assert kind_of_output(str(tmp_path / "value")) == ids.VALUE
    with pytest.raises(ThunkFormatError):
        kind_of_output(str(tmp_path / "fake"))
