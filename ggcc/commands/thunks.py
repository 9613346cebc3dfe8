"""`ggcc thunk`, `ggcc force`, `ggcc show`, `ggcc cat`: thunks by hand.

Exit codes as cli.py says: 0, 1 a thunk failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ggcc.base import config
from ggcc.base.errors import GgccError
from ggcc.formats import ids
from ggcc.storage.local_store import CorruptBlob, LocalStore


def _store() -> LocalStore:
    """The local store: thunks made and forced by hand are kept there."""
    from ggcc.storage import open_store

    return open_store(config.ggcc_dir()).local


# -- ggcc thunk ---------------------------------------------------------------
def cmd_thunk(a: argparse.Namespace) -> int:
    from ggcc.commands.create import thunk_from_command
    from ggcc.formats import placeholder
    from ggcc.storage.hash_cache import HashCache

    store = _store()
    env = {}
    for item in a.env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise GgccError(f"--env {item!r}: write NAME=VALUE")
        env[name] = value
    if a.timeout < 0:
        raise GgccError("--timeout: must be >= 0 seconds (0: no limit)")
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    thunk = thunk_from_command(
        command, a.input, a.output, env, int(a.timeout * 1000), store, HashCache(store.root)
    )
    tid = store.put_thunk(thunk)
    if not a.no_placeholder:
        for o in thunk.outputs:
            ref = tid if o is thunk.outputs[0] else f"{tid}#{o.tag}"
            placeholder.write(o.path, ref)
    print(tid)
    return 0


# -- ggcc force ---------------------------------------------------------------
def cmd_force(a: argparse.Namespace) -> int:
    return force_targets(a.targets, a.quiet, a.jobs, a.engine)


def force_targets(texts: list[str], quiet: bool, jobs: int | None = None, engine_name: str = "") -> int:
    """Force placeholders, thunk ids or thunk files and put their outputs in
    place; 0 if all were made, 1 if a thunk failed. ``engine_name`` ""
    is GGCC_ENGINE's (local by default)."""
    from ggcc.commands import progress, targets
    from ggcc.engines import EngineSettings, make_engine
    from ggcc.engines.scheduler import force
    from ggcc.storage import open_store, upkeep

    opened = open_store(config.ggcc_dir())
    store = opened.local
    tlist = []
    for text in texts:
        try:
            tlist.append(targets.resolve(text, store))
        except targets.AlreadyReal:
            if not quiet:
                sys.stderr.write(f"ggcc: {text}: already a real file; nothing to do\n")
    if jobs is not None and jobs < 1:
        raise GgccError("--jobs: must be at least 1")
    engine = make_engine(EngineSettings.from_env(os.environ, engine_name), opened,
                         jobs or config.default_jobs())
    listener = progress.make_progress(quiet)
    todo = tlist
    try:
        for attempt in range(2):
            report = force([t.ref for t in todo], store, engine, listener)
            damaged = []
            for t in todo:
                value = report.values.get(t.ref)
                if value is None:
                    continue
                if t.placeholder_path is None:
                    print(f"{t.ref} {value.ref}")
                    continue
                try:
                    if not targets.write_back(t, value, store):
                        sys.stderr.write(f"ggcc: {t.text}: changed since it was made; left as it is\n")
                except CorruptBlob:  # removed and counted: forced again, it runs
                    damaged.append(t)
            if not damaged:
                break
            if attempt:
                raise GgccError(f"{damaged[0].text}: its output was corrupt in the store twice; "
                                "check the disk, then run `ggcc cache verify`")
            todo = damaged
    finally:
        progress.close(listener)
        engine.shutdown()
    for f in report.failures:
        sys.stderr.write(f"ggcc: thunk {f.thunk_id} failed: {f.message}\n")
        if f.result is not None:
            sys.stderr.buffer.write(f.result.stdout + f.result.stderr)
            sys.stderr.flush()
    if not quiet:
        sys.stderr.write(
            f"ggcc: {len(tlist)} target(s): {report.executed} run, {report.hits} cached, {len(report.failures)} failed\n"
        )
    upkeep.maybe_trim(store, config.max_size())
    return 0 if report.ok else 1


# -- ggcc show / cat --------------------------------------------------------------
def cmd_show(a: argparse.Namespace) -> int:
    from ggcc.commands import targets
    from ggcc.formats.thunk import split_ref

    store = _store()
    text = a.target
    if ids.is_valid_id(text) and text[0] == ids.VALUE:
        present = store.has(text)
        info = {"value": text, "size": ids.id_size(text), "in_store": present}
        print(json.dumps(info, indent=2) if a.json else f"value {text}\n  size      {info['size']}\n  in store  {present}")
        return 0
    target = targets.resolve(text, store)
    tid, tag = split_ref(target.ref)
    thunk = store.load_thunk(tid)
    result = store.get_result(tid)
    if a.json:
        obj = json.loads(thunk.serialize()[len(b"ggcc-thunk 1\n"):])
        obj["id"] = tid
        if target.placeholder_path:
            obj["placeholder"] = {"path": target.placeholder_path, "ref": target.ref}
        obj["result"] = None if result is None else json.loads(result.to_json())
        print(json.dumps(obj, indent=2, sort_keys=True))
        return 0
    lines = [f"thunk {tid}"]
    if target.placeholder_path:
        lines.append(f"  placeholder {target.placeholder_path} (output {tag or 'default'})")
    lines.append(f"  program  {thunk.program.path} <- {thunk.program.ref}")
    lines.append("  args     " + " ".join(_quote(x) for x in thunk.args))
    lines.append("  cwd      " + thunk.cwd)
    lines.append("  env      " + (" ".join(f"{k}={_quote(v)}" for k, v in thunk.env) or "(none)"))
    lines.append(f"  inputs   {len(thunk.inputs)}")
    for i in thunk.inputs:
        lines.append(f"    {i.path} <- {i.ref}{'  (executable)' if i.executable else ''}")
    lines.append(f"  outputs  {len(thunk.outputs)}")
    for o in thunk.outputs:
        lines.append(f"    {o.tag}: {o.path}")
    lines.append("  timeout  " + (f"{thunk.timeout_ms / 1000:g} s" if thunk.timeout_ms else "none"))
    if result is None:
        lines.append("  result   not cached")
    else:
        lines.append(f"  result   cached, exit {result.exit_code}")
        for ov in result.outputs:
            lines.append(f"    {ov.tag} -> {ov.ref}")
    print("\n".join(lines))
    return 0


def cmd_cat(a: argparse.Namespace) -> int:
    if not ids.is_valid_id(a.id):
        raise GgccError(f"{a.id!r} is not a value or thunk id")
    sys.stdout.buffer.write(_store().read_bytes(a.id))
    return 0


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)
