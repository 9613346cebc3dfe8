"""A generic REAPI worker's execution step: an Action's Command run in its
input root, as Buildbarn's or BuildBuddy's workers do.

It knows nothing of ggcc: it reads REAPI messages, lays the input root out
from CAS blobs, runs ``arguments`` (the first relative to the input root)
in ``working_directory`` with exactly ``environment_variables``, and
answers an ActionResult with the output files' digests. That ggcc's Actions
run here proves they need nothing of the worker's machine but a kernel.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2

Fetch = Callable[[re_pb2.Digest], bytes]  # a CAS blob by its digest


@dataclass
class Ran:
    result: re_pb2.ActionResult
    blobs: dict[str, bytes]  # new CAS blobs (outputs, logs) by hash


def _checked(fetch: Fetch, d: re_pb2.Digest) -> bytes:
    data = fetch(d)
    if hashlib.sha256(data).hexdigest() != d.hash or len(data) != d.size_bytes:
        raise ValueError(f"CAS blob {d.hash} does not match its digest")
    return data


def _lay_out(fetch: Fetch, d: re_pb2.Digest, where: str) -> None:
    os.makedirs(where, exist_ok=True)
    directory = re_pb2.Directory.FromString(_checked(fetch, d))
    for f in directory.files:
        if "/" in f.name or f.name in ("", ".", ".."):
            raise ValueError(f"bad file name {f.name!r}")
        path = os.path.join(where, f.name)
        with open(path, "wb") as out:
            out.write(_checked(fetch, f.digest))
        os.chmod(path, 0o555 if f.is_executable else 0o444)
    for sub in directory.directories:
        if "/" in sub.name or sub.name in ("", ".", ".."):
            raise ValueError(f"bad directory name {sub.name!r}")
        _lay_out(fetch, sub.digest, os.path.join(where, sub.name))


def _digest(data: bytes) -> re_pb2.Digest:
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def run_action(action_digest: re_pb2.Digest, fetch: Fetch, root: str, timeout_s: float = 600.0) -> Ran:
    """Run the Action in a new input root at ``root`` (which must not exist)."""
    action = re_pb2.Action.FromString(_checked(fetch, action_digest))
    command = re_pb2.Command.FromString(_checked(fetch, action.command_digest))
    _lay_out(fetch, action.input_root_digest, root)
    cwd = os.path.join(root, command.working_directory)
    argv = list(command.arguments)
    program = argv[0] if os.path.isabs(argv[0]) else os.path.join(root, argv[0])
    env = {v.name: v.value for v in command.environment_variables}
    timeout = action.timeout.seconds + action.timeout.nanos / 1e9 if action.HasField("timeout") else timeout_s
    blobs: dict[str, bytes] = {}
    result = re_pb2.ActionResult()
    try:
        p = subprocess.run(argv, executable=program, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        code, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        code, out, err = -9, e.stdout or b"", e.stderr or b""
    result.exit_code = code
    for data, field in ((out, result.stdout_digest), (err, result.stderr_digest)):
        field.CopyFrom(_digest(data))
        blobs[field.hash] = data
    for rel in command.output_paths or command.output_files:
        path = os.path.join(cwd, rel)
        if not os.path.isfile(path) or os.path.islink(path):
            continue  # REAPI: a missing output is not an error of the worker
        with open(path, "rb") as f:
            data = f.read()
        d = _digest(data)
        blobs[d.hash] = data
        result.output_files.append(re_pb2.OutputFile(path=rel, digest=d,
                                                     is_executable=bool(os.stat(path).st_mode & 0o100)))
    return Ran(result, blobs)
