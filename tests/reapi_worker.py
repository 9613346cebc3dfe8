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
Place = Callable[[re_pb2.Digest, str, bool], None]  # an input file put at a path (executable or not)


class MissingBlob(Exception):
    """An input the CAS does not hold."""


@dataclass
class Ran:
    result: re_pb2.ActionResult
    blobs: dict[str, bytes]  # new CAS blobs (outputs, logs) by hash


def _checked(fetch: Fetch, d: re_pb2.Digest) -> bytes:
    data = fetch(d)
    if hashlib.sha256(data).hexdigest() != d.hash or len(data) != d.size_bytes:
        raise ValueError(f"CAS blob {d.hash} does not match its digest")
    return data


def write_file(fetch: Fetch) -> Place:
    """Inputs written afresh into each input root."""
    def place(d: re_pb2.Digest, path: str, executable: bool) -> None:
        with open(path, "wb") as out:
            out.write(_checked(fetch, d))
        os.chmod(path, 0o555 if executable else 0o444)
    return place


def link_from(fetch: Fetch, cache_dir: str) -> Place:
    """Inputs hard-linked from a file cache by digest, each fetched and
    checked once, as Buildbarn's and BuildBuddy's workers do. (The worker
    trusts its commands not to write their inputs: it runs as root here.)"""
    os.makedirs(cache_dir, exist_ok=True)

    def place(d: re_pb2.Digest, path: str, executable: bool) -> None:
        cached = os.path.join(cache_dir, f"{d.hash}-{d.size_bytes}{'x' if executable else ''}")
        if not os.path.exists(cached):
            tmp = f"{cached}.{os.getpid()}.tmp"
            write_file(fetch)(d, tmp, executable)
            os.replace(tmp, cached)
        os.link(cached, path)
    return place


def _lay_out(fetch: Fetch, place: Place, d: re_pb2.Digest, where: str) -> None:
    os.makedirs(where, exist_ok=True)
    directory = re_pb2.Directory.FromString(_checked(fetch, d))
    for f in directory.files:
        if "/" in f.name or f.name in ("", ".", ".."):
            raise ValueError(f"bad file name {f.name!r}")
        place(f.digest, os.path.join(where, f.name), f.is_executable)
    for sub in directory.directories:
        if "/" in sub.name or sub.name in ("", ".", ".."):
            raise ValueError(f"bad directory name {sub.name!r}")
        _lay_out(fetch, place, sub.digest, os.path.join(where, sub.name))


def _digest(data: bytes) -> re_pb2.Digest:
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def run_action(action_digest: re_pb2.Digest, fetch: Fetch, root: str, timeout_s: float = 600.0,
               place: Place | None = None) -> Ran:
    """Run the Action in a new input root at ``root`` (which must not exist);
    its ActionResult says when each phase began and ended, as REAPI asks."""
    result = re_pb2.ActionResult()
    meta = result.execution_metadata
    meta.worker_start_timestamp.GetCurrentTime()
    meta.input_fetch_start_timestamp.GetCurrentTime()
    action = re_pb2.Action.FromString(_checked(fetch, action_digest))
    command = re_pb2.Command.FromString(_checked(fetch, action.command_digest))
    _lay_out(fetch, place or write_file(fetch), action.input_root_digest, root)
    meta.input_fetch_completed_timestamp.GetCurrentTime()
    cwd = os.path.join(root, command.working_directory)
    argv = list(command.arguments)
    program = argv[0] if os.path.isabs(argv[0]) else os.path.join(root, argv[0])
    env = {v.name: v.value for v in command.environment_variables}
    timeout = action.timeout.seconds + action.timeout.nanos / 1e9 if action.HasField("timeout") else timeout_s
    blobs: dict[str, bytes] = {}
    meta.execution_start_timestamp.GetCurrentTime()
    try:
        p = subprocess.run(argv, executable=program, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        code, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        code, out, err = -9, e.stdout or b"", e.stderr or b""
    meta.execution_completed_timestamp.GetCurrentTime()
    result.exit_code = code
    for data, field in ((out, result.stdout_digest), (err, result.stderr_digest)):
        field.CopyFrom(_digest(data))
        blobs[field.hash] = data
    for rel in command.output_paths or [*command.output_files, *command.output_directories]:
        path = os.path.join(cwd, rel)
        if os.path.islink(path):
            continue
        if os.path.isdir(path):
            tree = re_pb2.Tree()
            tree.root.CopyFrom(_directory(path, blobs, tree))
            data = tree.SerializeToString(deterministic=True)
            blobs[_digest(data).hash] = data
            result.output_directories.append(re_pb2.OutputDirectory(path=rel, tree_digest=_digest(data)))
        elif os.path.isfile(path):  # REAPI: a missing output is not an error of the worker
            d = _file(path, blobs)
            result.output_files.append(re_pb2.OutputFile(path=rel, digest=d,
                                                         is_executable=bool(os.stat(path).st_mode & 0o100)))
    return Ran(result, blobs)


def _file(path: str, blobs: dict[str, bytes]) -> re_pb2.Digest:
    with open(path, "rb") as f:
        data = f.read()
    d = _digest(data)
    blobs[d.hash] = data
    return d


def _directory(path: str, blobs: dict[str, bytes], tree: re_pb2.Tree) -> re_pb2.Directory:
    """An output directory as REAPI's Directory (entries sorted), its
    subdirectories added to ``tree``'s children."""
    out = re_pb2.Directory()
    for e in sorted(os.scandir(path), key=lambda e: e.name):
        if e.is_dir(follow_symlinks=False):
            sub = _directory(e.path, blobs, tree)
            tree.children.append(sub)
            data = sub.SerializeToString(deterministic=True)
            out.directories.append(re_pb2.DirectoryNode(name=e.name, digest=_digest(data)))
        elif e.is_file(follow_symlinks=False):
            out.files.append(re_pb2.FileNode(name=e.name, digest=_file(e.path, blobs),
                                             is_executable=bool(e.stat().st_mode & 0o100)))
    return out


# -- the bot: BuildGrid's Remote Workers API (Bots service) ------------------

def serve(target: str, workdir: str, instance: str = "", bot_id: str = "") -> None:
    """Take leases from the server's Bots service and run them, forever."""
    import shutil
    import socket
    import time
    import uuid

    import grpc
    from google.protobuf import any_pb2

    from buildgrid.common.protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
    from buildgrid.common.protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
    from buildgrid.common.protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc
    from buildgrid.common.protos.google.rpc import status_pb2

    channel = grpc.insecure_channel(target.partition("://")[2], [("grpc.max_receive_message_length", 64 << 20),
                                                                  ("grpc.max_send_message_length", 64 << 20)])
    bots = bots_pb2_grpc.BotsStub(channel)
    cas = re_grpc.ContentAddressableStorageStub(channel)
    bytestream = bytestream_pb2_grpc.ByteStreamStub(channel)
    cache: dict[str, bytes] = {}  # small blobs (messages, headers) in memory; files also on disk (link_from)

    def fetch(d: re_pb2.Digest) -> bytes:
        if d.hash in cache:
            return cache[d.hash]
        if d.size_bytes < (1 << 20):
            resp = cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(instance_name=instance, digests=[d]), timeout=60)
            if resp.responses[0].status.code != 0:
                raise MissingBlob(d.hash)
            small: bytes = resp.responses[0].data
            cache[d.hash] = small
            return small
        name = f"{instance + '/' if instance else ''}blobs/{d.hash}/{d.size_bytes}"
        try:
            return b"".join(r.data for r in bytestream.Read(bytestream_pb2.ReadRequest(resource_name=name), timeout=120))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                raise MissingBlob(d.hash) from None
            raise

    place = link_from(fetch, os.path.join(workdir, "cas"))

    def store(blobs: dict[str, bytes]) -> None:
        for h, data in blobs.items():
            d = re_pb2.Digest(hash=h, size_bytes=len(data))
            if len(data) < (1 << 20):
                cas.BatchUpdateBlobs(re_pb2.BatchUpdateBlobsRequest(instance_name=instance, requests=[
                    re_pb2.BatchUpdateBlobsRequest.Request(digest=d, data=data)]), timeout=60)
            else:
                name = f"{instance + '/' if instance else ''}uploads/{uuid.uuid4()}/blobs/{h}/{len(data)}"
                bytestream.Write(iter([bytestream_pb2.WriteRequest(resource_name=name, data=data, finish_write=True)]),
                                 timeout=120)

    bot_id = bot_id or f"{socket.gethostname()}-{os.getpid()}"

    def new_session() -> bots_pb2.BotSession:
        while True:  # the server may be restarting: wait for it
            try:
                return bots.CreateBotSession(bots_pb2.CreateBotSessionRequest(
                    parent=instance, bot_session=bots_pb2.BotSession(bot_id=bot_id, status=bots_pb2.BotStatus.OK)),
                    timeout=30)
            except grpc.RpcError:
                time.sleep(0.5)

    session = new_session()
    while True:
        for lease in session.leases:
            # BuildGrid hands a lease over ACTIVE already; others PENDING.
            if lease.state not in (bots_pb2.LeaseState.PENDING, bots_pb2.LeaseState.ACTIVE):
                continue
            action_digest = re_pb2.Digest()
            if not lease.payload.Unpack(action_digest):
                action = re_pb2.Action()
                lease.payload.Unpack(action)
                data = action.SerializeToString(deterministic=True)
                action_digest = re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
                cache[action_digest.hash] = data
            root = os.path.join(workdir, uuid.uuid4().hex)
            try:
                ran = run_action(action_digest, fetch, root, place=place)
                meta = ran.result.execution_metadata
                meta.worker = bot_id
                meta.output_upload_start_timestamp.GetCurrentTime()
                store(ran.blobs)
                meta.output_upload_completed_timestamp.GetCurrentTime()
                meta.worker_completed_timestamp.GetCurrentTime()
                packed = any_pb2.Any()
                packed.Pack(ran.result)
                lease.result.CopyFrom(packed)
                lease.status.CopyFrom(status_pb2.Status(code=0))
            except MissingBlob as e:  # REAPI: a missing input is FAILED_PRECONDITION, so the client uploads again
                lease.status.CopyFrom(status_pb2.Status(code=9, message=f"worker: missing input {e}"))
            except Exception as e:  # the action could not be run: said to the server, not fatal to the bot
                lease.status.CopyFrom(status_pb2.Status(code=13, message=f"worker: {e!r}"))
            finally:
                shutil.rmtree(root, ignore_errors=True)
            lease.state = bots_pb2.LeaseState.COMPLETED
        try:
            session = bots.UpdateBotSession(bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session),
                                            timeout=5)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                time.sleep(0.2)  # the server gone or restarted: a new session when it is back
                session = new_session()


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], sys.argv[2], *sys.argv[3:])
