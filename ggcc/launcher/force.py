"""Forcing one step's thunk for the launcher: a cache hit, a result from
another root (travel.py), or a run on the engine, identical steps asked
for at once run once; and counting how each step was answered."""

from __future__ import annotations

import os

from ggcc.base import stats
from ggcc.base.stats import Event
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk
from ggcc.launcher import travel
from ggcc.launcher.context import Context
from ggcc.launcher.request import Done, Local, Speculation
from ggcc.storage.store import Store


def force_step(thunk: Thunk, store: Store, ctx: Context, env: dict[str, str]) -> tuple[Result, bool] | Local:
    """(result, whether it was a cache hit), or Local if the thunk failed.

    Identical thunks asked for at once (two build directories, one
    command) run once: the others wait and take its result."""
    from ggcc.engines.scheduler import ForceReport, force
    from ggcc.launcher.compile_thunk import OBJECT_TAG

    store.local.put_thunk(thunk)
    cached = store.get_result(thunk.id)
    if cached is not None:
        return cached, True
    where = travel.place(thunk, env.get(travel.BASEDIR_ENV, ""), name_free=thunk.output_tags() == [OBJECT_TAG])
    travelled = _from_travel(where, thunk, store, ctx) if where is not None else None
    if travelled is not None:
        return travelled, True

    engine = ctx.engine(store, env)

    def run() -> ForceReport | None:
        # The same step from another checkout may have been run by this
        # daemon and filed between this request's lookups above and this
        # once-section: look again (None: found, nothing run), or it would
        # run twice. Here, in the local store only: the shared store was
        # asked above, and a second GET on every miss costs tens of ms (S3).
        if store.local.get_result(thunk.id) is not None or (
                where is not None and _from_travel(where, thunk, store.local, ctx) is not None):
            return None
        if engine.name != "local":  # runs elsewhere: the slots bound this machine's compilers only
            report = force([thunk.id], store, engine, known={thunk.id: thunk})
        else:
            with ctx.slots:
                report = force([thunk.id], store, engine, known={thunk.id: thunk})
        if where is not None and report.ok and not report.hits:
            made = store.get_result(thunk.id)
            if made is not None:  # filed before the requests waiting on this key look for it
                to_travel(where, thunk, made, store, ctx)
        return report

    # Keyed by the travel key: the same step in two build directories at
    # once runs once, the second taking the first's result if it travels.
    report = ctx.once(where.key if where is not None else thunk.id, run)
    if report is None and where is not None:
        travelled = store.get_result(thunk.id) or _from_travel(where, thunk, store, ctx)
        if travelled is not None:
            return travelled, True
        report = ctx.once(thunk.id, run)  # it was another root's, and tied to it: run ours
    if report is not None and not report.ok:
        from ggcc.execution.executor import CORRUPT_INPUT, MISSING_INPUT_HERE

        f = report.failures[0]
        if f.result is not None and f.result.error.startswith(CORRUPT_INPUT):
            return Local("corrupt-blob")
        if f.result is not None and f.result.error.startswith(MISSING_INPUT_HERE):
            return Local("store-changed")
        failed_run = f.result is not None and not f.result.error
        if not failed_run:  # ggcc's fault, not the code's: keep why
            stats.record(ctx.root, (Event.ERROR, f"sandbox: {f.message}"))
        elif os.environ.get("GGCC_DEBUG_FAILURES"):
            assert f.result is not None
            stats.record(ctx.root, (Event.ERROR, f"failed-run {f.result.stderr[-400:].decode('utf-8', 'replace')}"))
        return Local("compile-failed-rerun" if failed_run else "sandbox-failure")
    result = store.get_result(thunk.id)
    if result is None:
        # Another request ran it and failed (failures are never stored), or
        # the store lost it since (a `ggcc cache clear`).
        return Local("store-changed" if report is not None else "compile-failed-rerun")
    return result, report is None or bool(report.hits)


def _from_travel(where: travel.Place, thunk: Thunk, store: Store, ctx: Context) -> Result | None:
    """The thunk's result from a record of the same step under another
    root or output name (see travel.py), its outputs here and checked
    when used; kept as this thunk's own result from then on."""
    data, from_shared = travel.load(ctx.root, where.key, store)
    found = travel.use_record(data, where, thunk) if data else None
    if found is None:
        return None
    if store.fetch_all([o.ref for o in found.result.outputs]):
        return None  # an output gone from every store
    store.put_result(found.result)
    stats.record(ctx.root, (Event.TRAVEL_HIT, "root" if found.other_root else "name"))
    if from_shared:
        store.came_from_shared(thunk.id)
    return found.result


def to_travel(where: travel.Place, thunk: Thunk, result: Result, store: Store, ctx: Context) -> None:
    """File a result just made under its travel key, if its bytes do not
    depend on its root; count it if they do."""
    from ggcc.base.errors import GgccError

    try:
        made = travel.make_record(where, thunk, result, lambda ref: store.local.path_for_use(ref, False))
    except (OSError, GgccError):  # an output gone from the store (trimmed, corrupt): nothing to share
        return
    if made.embeds_root:
        stats.record(ctx.root, Event.TRAVEL_EMBEDS_ROOT)
    if made.data is not None:
        travel.save(ctx.root, where.key, made.data, store)


def count_answer(ctx: Context, store: Store, was_hit: bool, thunk_id: str, *details: Event,
                 direct: bool = False) -> None:
    """A step answered with a result: a hit (``direct``: from the
    manifest; ``hit-shared``: its result came from the shared store for
    it), or executed. A hit on what a speculation ran for this very step
    is that step's run, not a hit. Each step, one line of events."""
    shared = store.took_from_shared(thunk_id)
    if was_hit and ctx.speculator is not None and ctx.speculator.take(thunk_id):
        stats.record(ctx.root, Event.INVOCATION, Event.EXECUTED, *details, Event.SPECULATION_USED)
    elif was_hit:
        stats.record(ctx.root, Event.INVOCATION, Event.HIT, *details, *((Event.DIRECT,) if direct else ()),
                     *((Event.HIT_SHARED,) if shared else ()))
    else:
        stats.record(ctx.root, Event.INVOCATION, Event.EXECUTED, *details)


def after_speculation(ctx: Context, spec: Speculation, was_hit: bool, thunk_id: str, out: str, out_id: str,
                      known: dict[str, str]) -> Done:
    """A speculation's end: count what it ran, and start the links that
    read what it made (nothing goes into the build tree)."""
    if not was_hit:
        spec.ran = thunk_id
        stats.record(ctx.root, Event.SPECULATION)
    if ctx.speculator is not None:
        ctx.speculator.made(os.path.normpath(out), out_id, known)
    return Done(0)

