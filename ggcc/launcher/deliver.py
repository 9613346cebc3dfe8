"""Outputs into the build tree as their tools put them (placement.py), each
checked as it is copied out of the store, and the run's messages as the
host would have printed them."""

from __future__ import annotations

import os

from ggcc.base import placement
from ggcc.formats.compile import Compile
from ggcc.formats.result import Result
from ggcc.launcher.request import Done
from ggcc.storage.local_store import LocalStore


def write_back(
    result: Result, parsed: Compile, cwd: str, store: LocalStore, depfile_id: str, depfile_tmp: str, umask: int
) -> Done:
    """Object and depfile into place as gcc puts them (see placement.py);
    the run's output to replay."""
    from ggcc.launcher.compile_thunk import OBJECT_TAG

    mode = 0o666 & ~umask
    dest = os.path.join(cwd, parsed.deps.file)
    if depfile_tmp:
        placement.put(dest, placement.FOPEN, mode, made=depfile_tmp)
    elif depfile_id:
        placement.put(dest, placement.FOPEN, mode, lambda f: store.copy_out(depfile_id, f))
    return deliver(result, OBJECT_TAG, os.path.join(cwd, parsed.output), store, umask, placement.BFD)


def deliver(result: Result, tag: str, dest: str, store: LocalStore, umask: int, how: str) -> Done:
    """An output into place as its tool puts it (``how``: see
    placement.py), its bytes checked as they are copied, and the run's
    messages."""
    value = result.output(tag)
    mode = (0o777 if value.executable else 0o666) & ~umask
    placement.put(dest, how, mode, lambda f: store.copy_out(value.ref, f))
    return Done(0, *host_messages(result))


def placeable(cwd: str, *outputs: tuple[str, str]) -> bool:
    """Whether every (output, how) can be written as its tool would
    (``output`` "" is none)."""
    try:
        for path, how in outputs:
            if path:
                placement.plan(os.path.join(cwd, path), how)
    except placement.NotAFile:
        return False
    return True


def deliver_over(result: Result, tag: str, dest: str, store: LocalStore, umask: int,
                  placeholder_data: bytes) -> os.stat_result | None:
    """An output over its placeholder, only if that is still at ``dest``:
    the placeholder's last stat (None: the build moved, removed or rewrote
    it; theirs wins)."""
    from ggcc.base.fsutil import copy_over_if_unchanged

    src, mode = output_file(result, tag, store, umask)
    return copy_over_if_unchanged(src, dest, placeholder_data, mode)


def output_file(result: Result, tag: str, store: LocalStore, umask: int) -> tuple[str, int]:
    """(the output's file in the store, the mode it gets in the build)."""
    value = result.output(tag)
    return store.path_for_use(value.ref, False), (0o777 if value.executable else 0o666) & ~umask


def host_messages(result: Result) -> tuple[bytes, bytes]:
    """The run's stdout and stderr as the host would have seen them (the
    tree stands for "/": the token is nothing)."""
    from ggcc.formats.thunk import ROOT_TOKEN

    token = ROOT_TOKEN.encode()
    return result.stdout.replace(token, b""), result.stderr.replace(token, b"")
