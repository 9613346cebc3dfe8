"""The thunk: a command plus every input it reads, each named by content.

A thunk runs in a fresh *working tree* (the sandbox root) that holds exactly
its inputs. Every path in a thunk is relative to that root. Arguments and
environment values may contain ``ROOT_TOKEN``, replaced at run time by the
root's absolute path, because tools such as gcc need absolute paths
(``--sysroot``) and the root differs from one run to the next.

Serialization is canonical: one thunk has exactly one byte form, so its id
(the hash of those bytes) is stable across processes, machines and Python
versions. ``parse_thunk`` refuses any other byte form of the same thunk so
that two different ids can never name the same computation.
See docs/thunk-format.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ggcc.formats import ids

MAGIC = b"ggcc-thunk 1\n"
ROOT_TOKEN = "@@GGCC_ROOT@@"
# Reserved for ggcc inside a working tree: programs are placed under
# .ggcc/bin, and a command may write new thunks to .ggcc/thunks (dynamic
# graphs). Outputs may not live there.
RESERVED_DIR = ".ggcc"
NEW_THUNKS_DIR = ".ggcc/thunks"


class ThunkFormatError(ValueError):
    """Bytes that are not a valid, canonical thunk."""


def check_relpath(path: str, what: str) -> None:
    """Refuse a path that could escape or alias inside the working tree."""
    if not isinstance(path, str) or not path:
        raise ThunkFormatError(f"{what}: empty path")
    if "\0" in path:
        raise ThunkFormatError(f"{what}: NUL in path {path!r}")
    if path.startswith("/"):
        raise ThunkFormatError(f"{what}: absolute path {path!r} would escape the working tree")
    # Segments "..", "." and "" (a compile's thunk has hundreds of paths:
    # three substring tests, not a loop over the segments).
    framed = f"/{path}/"
    if "/../" in framed:
        raise ThunkFormatError(f"{what}: path {path!r} would escape the working tree ('..')")
    if "//" in framed or "/./" in framed:
        raise ThunkFormatError(f"{what}: path {path!r} is not normalized")


def check_ref(ref: str, what: str) -> None:
    tid, _, tag = ref.partition("#")
    if not ids.is_valid_id(tid):
        raise ThunkFormatError(f"{what}: {ref!r} is not a value id or thunk reference")
    if ref[0] == ids.VALUE and "#" in ref:
        raise ThunkFormatError(f"{what}: a value id takes no '#tag': {ref!r}")
    if "#" in ref and not tag:
        raise ThunkFormatError(f"{what}: empty tag in {ref!r}")


@dataclass(frozen=True, order=True)
class Input:
    """A file placed in the working tree before the command runs.

    ``ref`` is a value id (``V...``) or the output of another thunk
    (``T...`` for its first output, ``T...#tag`` for a named one).
    """

    path: str
    ref: str
    executable: bool = False

    @property
    def is_thunk(self) -> bool:
        return self.ref.startswith(ids.THUNK)

    @property
    def thunk_id(self) -> str:
        return self.ref.partition("#")[0]


def _input_order(i: Input) -> tuple[str, str, bool]:
    """The dataclass order of an Input, without its generated __lt__."""
    return (i.path, i.ref, i.executable)


@dataclass(frozen=True)
class Output:
    """A file the command must leave in the working tree, named by a tag."""

    tag: str
    path: str


@dataclass(frozen=True)
class Thunk:
    program: Input  # what execve() runs; always placed executable
    args: tuple[str, ...]  # argv, including argv[0]
    env: tuple[tuple[str, str], ...] = ()  # the whole environment, sorted
    inputs: tuple[Input, ...] = ()  # sorted by path
    outputs: tuple[Output, ...] = ()  # in order; the first is the default
    cwd: str = "."  # relative to the root
    timeout_ms: int = 0  # 0: no limit
    dirs: tuple[str, ...] = ()  # directories that must exist though no input lies in them
    _id: str = field(default="", compare=False, repr=False)
    _bytes: bytes = field(default=b"", compare=False, repr=False)  # serialize(), made once

    @staticmethod
    def make(
        program: Input,
        args: list[str] | tuple[str, ...],
        env: dict[str, str] | None = None,
        inputs: list[Input] | tuple[Input, ...] = (),
        outputs: list[Output] | tuple[Output, ...] = (),
        cwd: str = ".",
        timeout_ms: int = 0,
        dirs: list[str] | tuple[str, ...] = (),
    ) -> Thunk:
        """Build a thunk in canonical order and validate it."""
        t = Thunk(
            program=Input(program.path, program.ref, True),
            args=tuple(args),
            env=tuple(sorted((env or {}).items())),
            inputs=tuple(sorted(set(inputs), key=_input_order)),
            outputs=tuple(outputs),
            cwd=cwd,
            timeout_ms=timeout_ms,
            dirs=tuple(sorted(set(dirs))),
        )
        t.validate()
        return t

    # -- derived views -------------------------------------------------
    def all_inputs(self) -> tuple[Input, ...]:
        return (self.program,) + self.inputs

    def thunk_deps(self) -> list[str]:
        """Ids of the thunks whose outputs this thunk reads."""
        return sorted({i.thunk_id for i in self.all_inputs() if i.is_thunk})

    def output_tags(self) -> list[str]:
        return [o.tag for o in self.outputs]

    def serialize(self) -> bytes:
        # Cached: a thunk is serialized for its id, then again to be stored
        # and sent; a compile's holds a few hundred paths.
        if not self._bytes:
            object.__setattr__(self, "_bytes", MAGIC + _canonical_json(self._to_obj()))
        return self._bytes

    @property
    def id(self) -> str:
        if not self._id:
            object.__setattr__(self, "_id", ids.thunk_id_of_bytes(self.serialize()))
        return self._id

    # -- validation ----------------------------------------------------
    def validate(self) -> None:
        check_relpath(self.program.path, "program")
        check_ref(self.program.ref, "program")
        if not self.args:
            raise ThunkFormatError("args: empty (argv[0] is required)")
        for a in self.args:
            if not isinstance(a, str) or "\0" in a:
                raise ThunkFormatError(f"args: invalid argument {a!r}")
        names = [k for k, _ in self.env]
        if names != sorted(set(names)):
            raise ThunkFormatError("env: names must be unique and sorted")
        for k, v in self.env:
            if not k or "=" in k or "\0" in k or "\0" in v:
                raise ThunkFormatError(f"env: invalid variable {k!r}")
        paths = [i.path for i in self.inputs]
        if paths != sorted(set(paths)):  # unique paths in order: then the inputs are in order too
            raise ThunkFormatError("inputs: paths must be unique and sorted")
        for i in self.inputs:
            check_relpath(i.path, "input")
            check_ref(i.ref, f"input {i.path}")
            if i.path == self.program.path:
                raise ThunkFormatError(f"input {i.path}: same path as the program")
        tags = [o.tag for o in self.outputs]
        if len(set(tags)) != len(tags):
            raise ThunkFormatError("outputs: tags must be unique")
        out_paths = [o.path for o in self.outputs]
        if len(set(out_paths)) != len(out_paths):
            raise ThunkFormatError("outputs: paths must be unique")
        for o in self.outputs:
            if not o.tag or "#" in o.tag or "\0" in o.tag or "\n" in o.tag:
                raise ThunkFormatError(f"outputs: invalid tag {o.tag!r}")
            check_relpath(o.path, f"output {o.tag}")
            if o.path == RESERVED_DIR or o.path.startswith(RESERVED_DIR + "/"):
                raise ThunkFormatError(f"output {o.tag}: path {o.path!r} is reserved for ggcc")
            if o.path == self.program.path:
                raise ThunkFormatError(f"output {o.tag}: same path as the program")
        if self.cwd != ".":
            check_relpath(self.cwd, "cwd")
        if list(self.dirs) != sorted(set(self.dirs)):
            raise ThunkFormatError("dirs: must be unique and sorted")
        for d in self.dirs:
            check_relpath(d, "dir")
        if not isinstance(self.timeout_ms, int) or isinstance(self.timeout_ms, bool) or self.timeout_ms < 0:
            raise ThunkFormatError(f"timeout_ms: invalid {self.timeout_ms!r}")

    def _to_obj(self) -> dict[str, object]:
        def inp(i: Input) -> dict[str, object]:
            return {"path": i.path, "ref": i.ref, "x": i.executable}

        return {
            "args": list(self.args),
            "cwd": self.cwd,
            "dirs": list(self.dirs),
            "env": [[k, v] for k, v in self.env],
            "inputs": [inp(i) for i in self.inputs],
            "outputs": [{"path": o.path, "tag": o.tag} for o in self.outputs],
            "program": {"path": self.program.path, "ref": self.program.ref},
            "timeout_ms": self.timeout_ms,
        }


def _canonical_json(obj: object) -> bytes:
    # ensure_ascii keeps the bytes independent of any locale and encodes
    # arguments that are not valid UTF-8 (surrogate escapes) reversibly.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


_KEYS = {"args", "cwd", "dirs", "env", "inputs", "outputs", "program", "timeout_ms"}


def parse_thunk(data: bytes) -> Thunk:
    """Parse canonical thunk bytes; ThunkFormatError for anything else."""
    if not data.startswith(MAGIC):
        raise ThunkFormatError("not a thunk (bad header)")
    try:
        obj = json.loads(data[len(MAGIC):].decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ThunkFormatError(f"truncated or corrupt thunk ({e.__class__.__name__})") from None
    if not isinstance(obj, dict) or set(obj) != _KEYS:
        raise ThunkFormatError("corrupt thunk (wrong fields)")
    try:
        prog = obj["program"]
        t = Thunk(
            program=Input(_str(prog["path"]), _str(prog["ref"]), True),
            args=tuple(_str(a) for a in obj["args"]),
            env=tuple((_str(k), _str(v)) for k, v in obj["env"]),
            inputs=tuple(Input(_str(i["path"]), _str(i["ref"]), _bool(i["x"])) for i in obj["inputs"]),
            outputs=tuple(Output(_str(o["tag"]), _str(o["path"])) for o in obj["outputs"]),
            cwd=_str(obj["cwd"]),
            timeout_ms=obj["timeout_ms"],
            dirs=tuple(_str(d) for d in obj["dirs"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ThunkFormatError(f"corrupt thunk ({e})") from None
    t.validate()
    if t.serialize() != data:
        raise ThunkFormatError("thunk is not in canonical form")
    object.__setattr__(t, "_id", ids.thunk_id_of_bytes(data))
    return t


def read_thunk_file(path: str) -> tuple[bytes, Thunk]:
    """A file's bytes and the thunk they hold; ThunkFormatError if they do not."""
    with open(path, "rb") as f:
        data = f.read()
    return data, parse_thunk(data)


def is_thunk_bytes(head: bytes) -> bool:
    return head.startswith(MAGIC)


def kind_of_output(path: str) -> str:
    """A command's output file as ids.THUNK if it holds a thunk (the next
    step of a dynamic graph), else ids.VALUE; ThunkFormatError if it starts
    as a thunk does and is not one. Every engine classifies outputs so."""
    with open(path, "rb") as f:
        if not is_thunk_bytes(f.read(len(MAGIC))):
            return ids.VALUE
    read_thunk_file(path)
    return ids.THUNK


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"expected a boolean, got {type(v).__name__}")
    return v


def substitute_root(text: str, root: str) -> str:
    return text.replace(ROOT_TOKEN, root) if ROOT_TOKEN in text else text


def split_ref(ref: str) -> tuple[str, str]:
    """'T...#tag' -> ('T...', 'tag'); 'T...' -> ('T...', '') (first output)."""
    tid, _, tag = ref.partition("#")
    return tid, tag
