"""`ggcc stats`: the counters of stats.log (base/stats.py) summed into one
typed summary, shown as text or JSON, and the one line `ggcc make` and
`ggcc ninja` print after a build."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from dataclasses import dataclass

from ggcc.base.config import human_size
from ggcc.base.stats import BY_WORD, Detail, Event, build_log

Tally = dict[str, int]  # a count per reason or name, sorted by it


@dataclass(frozen=True)
class ScanVerify:
    checked: int
    missing: int
    depfiles_differ: int
    extra_files: int
    compiler_files: int


@dataclass(frozen=True)
class Travel:  # see launcher/travel.py
    hits_from_other_root: int
    hits_under_other_name: int
    tied_to_root: int


@dataclass(frozen=True)
class HitsByTier:  # where each hit's result came from (direct or not)
    local_store: int
    shared_store: int


@dataclass(frozen=True)
class ExecutedByEngine:
    local: int
    workers: int
    # `lambda` is a keyword: the JSON key is spelled out in as_json
    lambda_: int
    reapi: int


@dataclass(frozen=True)
class Lambda:
    invocations: int
    cold_starts: int
    throttled: int
    retries: Tally
    function_errors: Tally
    duplicates: int
    gb_seconds: float
    estimated_usd: float


@dataclass(frozen=True)
class OnSave:
    executed: int
    used_by_builds: int


@dataclass(frozen=True)
class Summary:
    invocations: int
    cache_hits: int
    executed: int
    in_place: int  # executed in the build tree (local engine), inputs from the depfile
    unfiled: Tally  # ... whose result or direct-mode record was not kept, by reason
    direct_hits: int
    remote_hits: int
    storage_fallbacks: int
    compiler_scans: int
    own_scans: int
    scan_fallbacks: Tally
    scan_verify: ScanVerify
    travel: Travel
    hits_by_tier: HitsByTier
    executed_by_engine: ExecutedByEngine
    workers_duplicates: int
    reapi_cache_hits: int
    lambda_: Lambda
    on_save: OnSave
    links: int
    link_traces: int
    bytes_hashed: int
    bytes_uploaded: int
    bytes_downloaded: int
    launcher_wait_s: float
    local_fallbacks: Tally  # steps run without ggcc, by reason
    # Thunks a remote engine gave back and this machine's sandbox ran
    # (counted as executed by the step, not as run without ggcc).
    engine_fallbacks: Tally
    corrupt_blobs: int
    errors: int
    error_kinds: Tally


def _tally(c: Counter[str]) -> Tally:
    return dict(sorted(c.items()))


def summary(store_root: str, build_id: str = "") -> Summary:
    """The counters of every event of the store, or of one build's. A line
    whose word is no Event (written by another version of ggcc) is skipped."""
    counts: Counter[Event] = Counter()
    amounts: Counter[Event] = Counter()
    reasons: dict[Event, Counter[str]] = {e: Counter() for e in Event if e.detail is Detail.REASON}
    path = build_log(store_root, build_id) if build_id else os.path.join(store_root, "stats.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for text in f:
                word, _, detail = text.rstrip("\n").partition(" ")
                e = BY_WORD.get(word)
                if e is None:
                    continue
                counts[e] += 1
                if e.detail is Detail.AMOUNT and detail.isdigit():
                    amounts[e] += int(detail)
                elif e.detail is Detail.REASON:
                    reasons[e][detail] += 1
    except FileNotFoundError:
        pass
    by_engine = reasons[Event.EXECUTED_BY]
    travel = reasons[Event.TRAVEL_HIT]
    errors = reasons[Event.ERROR]
    return Summary(
        invocations=counts[Event.INVOCATION],
        cache_hits=counts[Event.HIT],
        executed=counts[Event.EXECUTED],
        in_place=counts[Event.IN_PLACE],
        unfiled=_tally(reasons[Event.UNFILED]),
        direct_hits=counts[Event.DIRECT],
        remote_hits=counts[Event.REMOTE_HIT],
        storage_fallbacks=counts[Event.STORAGE_FALLBACK],
        compiler_scans=counts[Event.SCAN],
        own_scans=counts[Event.SCAN_OWN],
        scan_fallbacks=_tally(reasons[Event.SCAN_FALLBACK]),
        scan_verify=ScanVerify(counts[Event.SCAN_VERIFY], counts[Event.SCAN_VERIFY_MISSING],
                               counts[Event.SCAN_VERIFY_DEPFILE], amounts[Event.SCAN_VERIFY_EXTRA],
                               amounts[Event.SCAN_VERIFY_FILES]),
        travel=Travel(travel["root"], travel["name"], counts[Event.TRAVEL_EMBEDS_ROOT]),
        hits_by_tier=HitsByTier(counts[Event.HIT] - counts[Event.HIT_SHARED], counts[Event.HIT_SHARED]),
        executed_by_engine=ExecutedByEngine(counts[Event.EXECUTED] - counts[Event.EXECUTED_BY],
                                            by_engine["workers"], by_engine["lambda"], by_engine["reapi"]),
        workers_duplicates=counts[Event.WORKERS_DUPLICATE],
        reapi_cache_hits=counts[Event.REAPI_CACHED],
        lambda_=Lambda(counts[Event.LAMBDA_INVOKE], counts[Event.LAMBDA_COLD], counts[Event.LAMBDA_THROTTLED],
                       _tally(reasons[Event.LAMBDA_RETRY]), _tally(reasons[Event.LAMBDA_FUNCTION_ERROR]),
                       counts[Event.LAMBDA_DUPLICATE], round(amounts[Event.LAMBDA_MBMS] / 1024 / 1000, 3),
                       round(amounts[Event.LAMBDA_NUSD] / 1e9, 6)),
        on_save=OnSave(counts[Event.SPECULATION], counts[Event.SPECULATION_USED]),
        links=counts[Event.LINK],
        link_traces=counts[Event.LINK_TRACE],
        bytes_hashed=amounts[Event.BYTES_HASHED],
        bytes_uploaded=amounts[Event.BYTES_UP],
        bytes_downloaded=amounts[Event.BYTES_DOWN],
        launcher_wait_s=round(amounts[Event.WAIT_MS] / 1000, 3),
        local_fallbacks=_tally(reasons[Event.LOCAL]),
        engine_fallbacks=_tally(reasons[Event.ENGINE_FALLBACK]),
        corrupt_blobs=counts[Event.CORRUPT_BLOB],
        errors=sum(errors.values()),
        error_kinds=_tally(errors),
    )


def _json_key(name: str) -> str:
    return name.rstrip("_")  # lambda_ -> lambda


def as_dict(s: Summary) -> dict[str, object]:
    def plain(v: object) -> object:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {_json_key(f.name): plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        return v

    d = plain(s)
    assert isinstance(d, dict)
    return d


def as_json(s: Summary) -> str:
    return json.dumps(as_dict(s), indent=2, sort_keys=True)


def _by_count(t: Tally) -> list[tuple[str, int]]:
    return sorted(t.items(), key=lambda kv: -kv[1])


def render(s: Summary) -> str:
    e = s.executed_by_engine
    lines = [
        f"invocations      {s.invocations}",
        f"cache hits       {s.cache_hits} ({s.direct_hits} without starting the compiler)",
        f"  by tier        {s.hits_by_tier.local_store} local store, {s.hits_by_tier.shared_store} shared store",
        f"executed         {s.executed}",
        f"  by engine      {e.local} local, {e.workers} workers, {e.lambda_} lambda, {e.reapi} reapi"
        + (f" ({s.workers_duplicates} stragglers sent twice)" if s.workers_duplicates else "")
        + (f" ({s.reapi_cache_hits} from the farm's ActionCache)" if s.reapi_cache_hits else ""),
    ]
    if s.in_place:
        lines.append(f"  in place       {s.in_place} (local engine, inputs from the compiler's depfile), "
                     f"{sum(s.unfiled.values())} not kept")
        lines += [f"    {reason:<28} {n}" for reason, n in _by_count(s.unfiled)]
    if s.engine_fallbacks:
        lines.append(f"  run here       {sum(s.engine_fallbacks.values())} that the remote engine gave back")
        lines += [f"    {reason:<28} {n}" for reason, n in _by_count(s.engine_fallbacks)]
    lines.append(f"run locally      {sum(s.local_fallbacks.values())}")
    lines += [f"  {reason:<30} {n}" for reason, n in _by_count(s.local_fallbacks)]
    lam = s.lambda_
    if lam.invocations or lam.throttled:
        lines.append(f"lambda           {lam.invocations} invocations ({lam.cold_starts} cold), "
                     f"{lam.throttled} throttled, {sum(lam.retries.values())} other retries, "
                     f"{sum(lam.function_errors.values())} function errors, {lam.duplicates} stragglers sent twice")
        for what, n in sorted({**lam.retries, **{f"error: {k}": v for k, v in lam.function_errors.items()}}.items()):
            lines.append(f"  {what:<30} {n}")
        lines.append(f"  cost           {lam.gb_seconds} GB-s, about ${lam.estimated_usd:.6f}")
    t = s.travel
    lines.append(f"other roots      {t.hits_from_other_root} hits from another build root, "
                 f"{t.hits_under_other_name} under another output name")
    if t.tied_to_root:
        lines.append(f"  tied to root   {t.tied_to_root} results record their build's path (-g, __FILE__): "
                     "shared at that path only; -ffile-prefix-map=ROOT=. frees them")
    lines.append(f"shared store     {s.remote_hits} hits, {s.storage_fallbacks} fallbacks to local")
    lines.append(f"header scans     {s.own_scans} by ggcc, {s.compiler_scans} by the compiler")
    lines += [f"  {reason:<30} {n}" for reason, n in _by_count(s.scan_fallbacks)]
    v = s.scan_verify
    if v.checked:
        share = 100.0 * v.extra_files / max(1, v.compiler_files)
        lines.append(f"  verified       {v.checked}: {v.missing} missing a header, "
                     f"{v.depfiles_differ} depfiles differ, {share:.1f}% extra files")
    if s.on_save.executed:
        lines.append(f"run on save      {s.on_save.executed} compiles and links ({s.on_save.used_by_builds} used by "
                     "a build, counted there as executed)")
    lines.append(f"links            {s.links} ({s.link_traces} traced)")
    lines.append(f"bytes            {human_size(s.bytes_hashed)} hashed, {human_size(s.bytes_uploaded)} uploaded, "
                 f"{human_size(s.bytes_downloaded)} downloaded")
    lines.append(f"launchers waited {s.launcher_wait_s} s in all")
    if s.corrupt_blobs:
        lines.append(f"corrupt blobs    {s.corrupt_blobs} found on use, removed, their steps run again")
    lines.append(f"errors           {s.errors}")
    lines += [f"  {what:<30} {n}" for what, n in s.error_kinds.items()]
    return "\n".join(lines)


def build_line(s: Summary) -> str:
    """The line `ggcc make` and `ggcc ninja` end with."""
    why = ", ".join(f"{n} {k}" for k, n in _by_count(s.local_fallbacks))
    other = s.travel.hits_from_other_root
    hits = f"{s.cache_hits} cache hits" + (f" ({other} from another build root)" if other else "")
    return (f"ggcc: {s.invocations} steps: {hits}, {s.executed} run, "
            f"{sum(s.local_fallbacks.values())} run without ggcc" + (f" ({why})" if why else ""))
