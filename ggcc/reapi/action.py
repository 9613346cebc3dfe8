"""A thunk as an REAPI Action that runs on any Linux worker.

The input root is the thunk's working tree (its inputs, executables flagged
executable, the directories it needs), plus a POSIX shell and what it loads
under ``.ggcc/sh``. The Command runs that shell through its own loader with
relative paths, from the input root; the shell's script is the thunk's
command. Why a shell: a thunk's arguments and environment name the root
(``--sysroot``, ``-B``, ``-ffile-prefix-map``, the loader's library path), and
only the worker knows where the root is; the script takes it from ``pwd``.
The script also writes that root to ``.ggcc/reapi-root`` (an output), so
that the logs can name it by the root token, as a local run's do.

Every message is serialized deterministically and every Directory lists its
entries sorted by name, so equal thunks give equal Action digests on every
machine and the farm's ActionCache answers across checkouts.

Digests are ggcc value ids (both are SHA-256 and a size): a store's blob is
a CAS blob without translation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from ggcc.dependency_scan.program import capture_runtime
from ggcc.execution.executor import wanted
from ggcc.formats import ids
from ggcc.formats.thunk import NEW_THUNKS_DIR, ROOT_TOKEN, Thunk
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore
from ggcc.storage.reapi_cas import digest, serialize

SHELL_DIR = ".ggcc/sh"
ROOT_FILE = ".ggcc/reapi-root"
# The shell's exit codes when it cannot run the command at all (POSIX: not
# executable, not found); the engine runs such a thunk here rather than
# take them as the command's answer.
SHELL_FAILED = (126, 127)


class ActionError(Exception):
    """A thunk this module cannot express as an Action; ``reason`` is the
    counter's name (the thunk then runs here)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Shell:
    """A POSIX shell, its loader and libraries, as tree paths under SHELL_DIR."""

    files: tuple[tuple[str, str, bool], ...]  # (tree path, value id, executable)
    loader: str
    library_dirs: tuple[str, ...]
    program: str

    def argv_prefix(self) -> list[str]:
        return [self.loader, "--inhibit-cache", "--library-path", ":".join(self.library_dirs), self.program]


@dataclass(frozen=True)
class PlannedAction:
    action_id: str  # the Action's digest, as a value id
    messages: Mapping[str, bytes]  # value id -> bytes: the Action, its Command, every Directory
    files: tuple[str, ...]  # value ids of the input files (in the local store)
    output_paths: tuple[str, ...]  # the thunk's outputs, in its order


def quote(text: str) -> str:
    """``text`` as one shell word, the root token as the script's $R."""
    parts = text.split(ROOT_TOKEN)
    return '"$R"'.join("'" + p.replace("'", "'\\''") + "'" if p else "" for p in parts) or "''"


def script(thunk: Thunk) -> str:
    """The thunk's command as a shell script run from the input root.

    The command gets the thunk's environment and nothing the shell adds
    (``cd`` exports PWD and OLDPWD: unset)."""
    lines = [
        "cd -P . || exit 126",
        "R=$PWD",
        f"printf %s \"$R\" > {quote(ROOT_FILE)} || exit 126",
    ]
    if thunk.cwd != ".":
        lines.append(f"cd {quote(thunk.cwd)} || exit 126")
    lines.append("unset PWD OLDPWD")
    lines += [f"export {k}={quote(v)}" for k, v in thunk.env]
    argv = " ".join(quote(a) for a in thunk.args[1:])
    lines.append(f"exec \"$R\"/{quote(thunk.program.path)} {argv}".rstrip())
    return "\n".join(lines) + "\n"


def capture_shell(store: LocalStore, hashes: HashCache, sh: str = "/bin/sh") -> Shell:
    """This machine's POSIX shell and what it loads, stored, placed under
    SHELL_DIR (never where the thunk's own files may lie)."""
    rt = capture_runtime({os.path.realpath(sh): "bin/sh"}, {}, store, hashes)

    def under(tree: str) -> str:
        return f"{SHELL_DIR}/{tree}"

    return Shell(tuple((under(f.tree_path), f.id, f.executable) for f in rt.files), under(rt.loader_tree),
                 tuple(under(d) for d in rt.library_dirs_tree), under("bin/sh"))


def plan(thunk: Thunk, resolved: Mapping[str, str], shell: Shell,
         platform: Sequence[tuple[str, str]] = ()) -> PlannedAction:
    """The Action for ``thunk`` (ActionError if it cannot be one), with the
    farm's ``platform`` properties (sorted, as REAPI asks, so that equal
    settings give equal digests)."""
    if thunk.args[:1] != (f"{ROOT_TOKEN}/{thunk.program.path}",):
        # A shell's exec cannot set argv[0]: such a thunk runs here.
        raise ActionError("reapi-argv0", "argv[0] is not the program's path")
    files, dirs = wanted(thunk, resolved)
    tree: dict[str, tuple[str, bool]] = {path: (w.vid, w.executable) for path, w in files.items()}
    for path, vid, executable in shell.files:
        tree[path] = (vid, executable)
    messages: dict[str, bytes] = {}
    root_id = _directory(tree, dirs | {os.path.dirname(ROOT_FILE)}, messages)
    outputs = tuple(o.path for o in thunk.outputs)
    command = re_pb2.Command(
        arguments=[*shell.argv_prefix(), "-c", script(thunk)],
        # The thunks a command may write (a dynamic graph) come back as a directory.
        output_paths=sorted({*outputs, ROOT_FILE, NEW_THUNKS_DIR}),
        output_files=sorted({*outputs, ROOT_FILE}),  # servers of REAPI 2.0
        output_directories=[NEW_THUNKS_DIR],
    )
    properties = [re_pb2.Platform.Property(name=n, value=v) for n, v in sorted(set(platform))]
    command.platform.properties.extend(properties)
    command_id = _put(command, messages)
    action = re_pb2.Action(command_digest=digest(command_id), input_root_digest=digest(root_id))
    action.platform.properties.extend(properties)  # REAPI 2.2 reads it here, older servers in the Command
    if thunk.timeout_ms:
        action.timeout.CopyFrom(duration_pb2.Duration(seconds=thunk.timeout_ms // 1000,
                                                      nanos=(thunk.timeout_ms % 1000) * 1_000_000))
    action_id = _put(action, messages)
    return PlannedAction(action_id, messages, tuple(sorted({vid for vid, _ in tree.values()})), outputs)


def _put(msg: Message, messages: dict[str, bytes]) -> str:
    data = serialize(msg)
    id_ = ids.value_id_of_bytes(data)
    messages[id_] = data
    return id_


class _Dir:
    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bool]] = {}
        self.dirs: dict[str, _Dir] = {}


def _directory(tree: Mapping[str, tuple[str, bool]], dirs: set[str], messages: dict[str, bytes]) -> str:
    """The root Directory of ``tree`` (path -> (value id, executable)) and
    ``dirs``, every Directory stored in ``messages``; the root's id."""
    root = _Dir()

    def at(path: str) -> _Dir:
        d = root
        for name in path.split("/") if path else ():
            if name in d.files:
                raise ActionError("reapi-tree", f"{path}: {name} is both a file and a directory")
            d = d.dirs.setdefault(name, _Dir())
        return d

    for path in dirs:
        at(path)
    for path, entry in tree.items():
        parent, _, name = path.rpartition("/")
        holder = at(parent)
        if name in holder.dirs:
            raise ActionError("reapi-tree", f"{path} is both a file and a directory")
        holder.files[name] = entry
    return _store(root, messages)


def _store(d: _Dir, messages: dict[str, bytes]) -> str:
    msg = re_pb2.Directory(
        files=[re_pb2.FileNode(name=n, digest=digest(vid), is_executable=x) for n, (vid, x) in sorted(d.files.items())],
        directories=[re_pb2.DirectoryNode(name=n, digest=digest(_store(sub, messages))) for n, sub in sorted(d.dirs.items())],
    )
    return _put(msg, messages)
