"""A program and everything it loads, as thunk inputs: its runtime.

Every program is placed at a path in the sandbox tree, its dynamic loader
and shared libraries (elf.py) at their host paths, and the command runs
the program through that loader, never through the worker's /usr:

    R/lib64/ld-linux-x86-64.so.2 --inhibit-cache --library-path R/lib/... R/<program>
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ggcc.formats.thunk import ROOT_TOKEN
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore


@dataclass(frozen=True)
class ToolFile:
    tree_path: str  # where it sits under the sandbox root
    host_path: str  # where its content is on this machine
    id: str
    executable: bool


@dataclass(frozen=True)
class Runtime:
    files: tuple[ToolFile, ...]
    loader_tree: str
    library_dirs_tree: tuple[str, ...]

    def lib_path(self) -> str:
        return ":".join(f"{ROOT_TOKEN}/{d}" for d in self.library_dirs_tree)

    def command_prefix(self, program_tree: str) -> list[str]:
        """The loader, its options and the program, with the root as a token."""
        return [
            f"{ROOT_TOKEN}/{self.loader_tree}",
            "--inhibit-cache",
            "--library-path",
            self.lib_path(),
            f"{ROOT_TOKEN}/{program_tree}",
        ]


def tree_path(host_path: str) -> str:
    """A host absolute path as a path inside the sandbox root."""
    return os.path.normpath(host_path).lstrip("/")


def rooted(path: str) -> str:
    """An argument path for the tree: absolute ones get the root in front."""
    return ROOT_TOKEN + path if os.path.isabs(path) else path


def capture_runtime(
    programs: dict[str, str], extra: dict[str, str], store: LocalStore, hashes: HashCache
) -> Runtime:
    """Programs (host path -> tree path), the files they load, and ``extra``
    plain files, all stored; the loader and library directories named."""
    # Only a first capture pays for pyelftools (~40 ms to import).
    from ggcc.dependency_scan.elf import closure

    clo = closure(list(programs))
    files: list[ToolFile] = []
    for host, tree in programs.items():
        files.append(ToolFile(tree, host, hashes.file_id(host), True))
    loader_real = os.path.realpath(clo.interpreter)
    files.append(ToolFile(tree_path(clo.interpreter), loader_real, hashes.file_id(loader_real), True))
    for lib in clo.libraries:
        real = os.path.realpath(lib)
        files.append(ToolFile(tree_path(lib), real, hashes.file_id(real), False))
    for host, tree in extra.items():
        files.append(ToolFile(tree, host, hashes.file_id(host), False))
    seen: dict[str, ToolFile] = {}
    for f in files:
        seen.setdefault(f.tree_path, f)
    for f in seen.values():
        store.put_file(f.host_path, f.id)
    return Runtime(tuple(seen.values()), tree_path(clo.interpreter), tuple(tree_path(d) for d in clo.library_dirs))


def still_valid(files: tuple[ToolFile, ...], store: LocalStore, hashes: HashCache) -> bool:
    """Every file unchanged on the host (a stat each) and present in the store."""
    return all(hashes.file_id(f.host_path) == f.id and store.has(f.id) for f in files)


def load_or_capture(program: str, invoked: str, store: LocalStore, hashes: HashCache) -> Runtime:
    """The runtime of one program placed where it was invoked, cached by its
    content and that path, re-checked with a stat per file."""
    import hashlib
    import json

    from ggcc.base.fsutil import atomic_write_bytes

    where = hashlib.sha256(os.path.abspath(invoked).encode()).hexdigest()[:16]
    path = os.path.join(store.root, "runtimes", f"{hashes.file_id(program)[1:]}-{where}.json")
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read())
        rt = Runtime(tuple(ToolFile(**t) for t in obj["files"]), obj["loader_tree"], tuple(obj["library_dirs_tree"]))
        if still_valid(rt.files, store, hashes):
            return rt
    except (OSError, ValueError, KeyError, TypeError):
        pass
    rt = capture_runtime({program: tree_path(invoked)}, {}, store, hashes)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    obj = {"files": [t.__dict__ for t in rt.files], "loader_tree": rt.loader_tree, "library_dirs_tree": list(rt.library_dirs_tree)}
    atomic_write_bytes(path, json.dumps(obj).encode())
    return rt
