"""Building the thunk for one compile: inputs at host paths under the root.

Every input (toolchain, source, headers) is placed at its absolute host
path inside the sandbox root, and the command runs in the host's working
directory under the root, so relative paths in the command mean what they
meant on the host. Absolute paths in path-valued arguments get the root in
front (as the ROOT token). The relocation flags go first and the user's
arguments after them: gcc applies the *last* matching prefix map, so a
user's own -ffile-prefix-map (rewritten to match under the root) still wins
over ggcc's, which only removes the root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ggcc.dependency_scan.program import rooted, tree_path
from ggcc.dependency_scan.toolchain import Toolchain
from ggcc.formats.compile import Compile
from ggcc.formats.thunk import ROOT_TOKEN, Input, Output, Thunk
from ggcc.launcher.args import PREFIX_MAP_OPTIONS
from ggcc.storage.hash_cache import HashCache
from ggcc.storage.local_store import LocalStore

OBJECT_TAG = "object"


def build_thunk(
    tc: Toolchain,
    comp: Compile,
    cwd: str,
    files: tuple[str, ...],
    natives: tuple[str, ...],
    locale: str,
    columns: str,
    env: dict[str, str],
    store: LocalStore,
    hashes: HashCache,
    known: Mapping[str, str] | None = None,
) -> Thunk:
    """``known``: content ids already taken for some files, by host path
    (the scan's), used instead of asking the hash cache again."""
    inputs: dict[str, Input] = {}
    for f in tc.files:
        inputs[f.tree_path] = Input(f.tree_path, f.id, f.executable)
    dirs: set[str] = set()
    add_host_files(inputs, dirs, files, cwd, store, hashes, known)
    add_search_dirs(dirs, comp.include_dirs, cwd)
    program = inputs.pop(tc.loader_tree)
    args = tc.command_prefix() + tc.relocation_flags() + _map_args(comp, natives)
    args += ["-o", rooted(comp.output)]
    thunk_env, locale_inputs = locale_setup(locale, store, hashes)
    for i in locale_inputs:
        inputs[i.path] = i
    thunk_env.update(step_env(env, columns))
    out = tree_path(os.path.join(cwd, comp.output))
    dirs.discard("")
    return Thunk.make(
        program,
        args,
        thunk_env,
        list(inputs.values()),
        [Output(OBJECT_TAG, out)],
        cwd=tree_path(cwd) or ".",
        dirs=sorted(d for d in dirs if d and d not in inputs),
    )


def step_env(env: Mapping[str, str], columns: str) -> dict[str, str]:
    """What a compile's environment holds besides its locale: the user's
    SOURCE_DATE_EPOCH, the width diagnostics are fitted to."""
    out = {"SOURCE_DATE_EPOCH": env["SOURCE_DATE_EPOCH"]} if env.get("SOURCE_DATE_EPOCH") else {}
    if columns:
        out["COLUMNS"] = columns
    return out


def add_host_files(inputs: dict[str, Input], dirs: set[str], paths: Iterable[str], cwd: str,
                   store: LocalStore, hashes: HashCache, known: Mapping[str, str] | None = None) -> None:
    """Host files (relative to cwd or absolute) as inputs at their host
    paths, stored; the directories a path walks through before '..' too.
    An id in ``known`` is trusted as the file's: put_file checks the bytes
    it copies against it."""
    known = known or {}
    for p in paths:
        host = os.path.join(cwd, p)
        tp = tree_path(host)
        if tp not in inputs:
            id_ = known.get(host) or hashes.file_id(host, store.put_file)
            inputs[tp] = Input(tp, store.put_file(host, id_))
        dirs.update(dirs_before_dotdot(host))


def add_search_dirs(dirs: set[str], search: Iterable[str], cwd: str) -> None:
    """Search directories that exist on the host exist in the tree too (a
    tool may look in them, or walk through them with '..')."""
    for d in search:
        host = os.path.join(cwd, d)
        if os.path.isdir(host):
            dirs.add(tree_path(host))
            dirs.update(dirs_before_dotdot(host))


def diagnostic_columns(env: dict[str, str], stderr_columns: str) -> str:
    """The width gcc fits source excerpts in diagnostics to: $COLUMNS, else
    the terminal's width if the launcher's stderr is one; none for a pipe."""
    return env.get("COLUMNS") or stderr_columns


def locale_setup(locale: str, store: LocalStore, hashes: HashCache) -> tuple[dict[str, str], list[Input]]:
    """The environment and files that give a tool in the sandbox the locale
    ``locale`` ("C" or "C.UTF-8"). glibc loads C.UTF-8 from files, at an
    absolute path: ship them and point glibc at the copy, or the worker's
    (or no) locale is used."""
    locale_dir = _utf8_locale_dir() if locale == "C.UTF-8" else None
    if locale_dir is None:
        return {"LC_ALL": "C"}, []  # without C.UTF-8 on the host, gcc falls back to C there too
    inputs = []
    for name in sorted(os.listdir(locale_dir)) + ["LC_MESSAGES/SYS_LC_MESSAGES"]:
        host = os.path.join(locale_dir, name)
        if os.path.isfile(host):
            tp = tree_path(host)
            inputs.append(Input(tp, store.put_file(host, hashes.file_id(host))))
    return {"LC_ALL": locale, "LOCPATH": f"{ROOT_TOKEN}/{tree_path(os.path.dirname(locale_dir))}"}, inputs


def _utf8_locale_dir() -> str | None:
    for d in ("/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"):
        if os.path.isfile(os.path.join(d, "LC_CTYPE")):
            return d
    return None


def _map_args(comp: Compile, natives: tuple[str, ...]) -> list[str]:
    path_at = {idx: (opt, val) for idx, opt, val in comp.path_args}
    native_at = set(comp.natives)
    out: list[str] = []
    args = comp.args
    i = 0
    while i < len(args):
        a = args[i]
        if i in native_at:
            if i == min(native_at):
                out.extend(natives)
            i += 1
            continue
        if i == comp.source_index:
            out.append(rooted(a))
        elif i in path_at:
            opt, val = path_at[i]
            if a == opt:  # separate: the value is the next word
                out += [a, rooted(val)]
                i += 2
                continue
            out.append(opt + rooted(val))
        elif a.startswith(PREFIX_MAP_OPTIONS):
            name, _, spec = a.partition("=")
            old, eq, new = spec.partition("=")
            out.append(f"{name}={rooted(old)}{eq}{new}" if os.path.isabs(old) else a)
        elif a == "-pipe":
            # Dropped: gcc puts -wrapper (the toolchain's own loader) before
            # the first command of a pipeline only, so `as` would run through
            # the host's loader, absent in the strict sandbox and on Lambda.
            # The object is the same bytes either way (a driver-only option).
            pass
        else:
            out.append(a)
        i += 1
    return out


def dirs_before_dotdot(host_path: str) -> list[str]:
    """Directories a path walks through before each '..' (they must exist)."""
    if ".." not in host_path:  # nearly every path: no split
        return []
    parts = host_path.split("/")
    out = []
    for k, part in enumerate(parts):
        if part == ".." and k > 0:
            prefix = "/".join(parts[:k])
            if prefix:
                out.append(tree_path(prefix))
    return out
