"""Named counters with reasons, shared by every ggcc process of a store.

Each event is one short line appended to ``<store>/stats.log`` with
O_APPEND: concurrent writers of lines shorter than PIPE_BUF never interleave,
and appending costs one open and one write, which the launcher can afford
on every compile. ``ggcc stats`` sums the lines; ``--zero`` empties the file.

Events: ``invocation``, ``hit``, ``direct`` (a hit found without running
the compiler at all), ``executed``, ``scan`` (the compiler ran to list
dependencies), ``local <reason>``, ``error <what>``, ``speculation`` (a
compile on save ran the compiler), ``speculation-used`` (a build's compile
found that run: it counts as executed, not as a hit), ``corrupt-blob`` (a
stored blob whose bytes were not its id's, found on use and removed),
``travel-hit root|name`` (a result found under another build root or
output name, see launcher/travel.py), ``travel-embeds-root`` (a result that
records its root, so no other root may use it).
"""

from __future__ import annotations

import os
from contextvars import ContextVar

from ggcc.base.config import human_size

# `ggcc make`, `ggcc ninja` and `ggcc infer` give their build an id in the
# environment: what is counted while answering one of its requests also
# goes to builds/<id>.log, so that its summary counts its own steps, not
# those of a build running beside it.
BUILD_ENV = "GGCC_BUILD"
build: ContextVar[str] = ContextVar("build", default="")


def record(store_root: str, *events: str) -> None:
    line = "".join(e.replace("\n", " ")[:200] + "\n" for e in events).encode("utf-8", "replace")
    try:
        os.makedirs(store_root, exist_ok=True)
        _append(os.path.join(store_root, "stats.log"), line)
        b = build.get()
        if b:
            _append(build_log(store_root, b), line)
    except OSError:
        pass  # counting must never break a build


def _append(path: str, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def build_log(store_root: str, build_id: str) -> str:
    """Where a build's own events go (the id is checked: it names a file)."""
    if not build_id.isalnum():
        raise ValueError(f"not a build id: {build_id!r}")
    d = os.path.join(store_root, "builds")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, build_id + ".log")


# Events whose detail is a number to sum, not a reason to count.
AMOUNTS = frozenset({"bytes-hashed", "bytes-up", "bytes-down", "wait-ms", "scan-verify-files", "scan-verify-extra",
                     "lambda-mbms", "lambda-nusd"})
# Events whose detail is a reason or a name, counted per detail.
_BY_DETAIL = ("executed-by", "lambda-retry", "lambda-function-error", "travel-hit")


def summary(store_root: str, build_id: str = "") -> dict[str, object]:
    """The counters of every event of the store, or of one build's."""
    from collections import Counter  # not on the launcher's path: it only records

    counts: Counter[str] = Counter()
    local: Counter[str] = Counter()
    engine_fallbacks: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    scan_fallbacks: Counter[str] = Counter()
    amounts: Counter[str] = Counter()  # "bytes-hashed N" and the like: summed
    by_detail: dict[str, Counter[str]] = {k: Counter() for k in _BY_DETAIL}
    path = build_log(store_root, build_id) if build_id else os.path.join(store_root, "stats.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                kind, _, detail = line.rstrip("\n").partition(" ")
                counts[kind] += 1
                if kind == "local":
                    local[detail] += 1
                elif kind == "engine-fallback":
                    engine_fallbacks[detail] += 1
                elif kind == "error":
                    errors[detail] += 1
                elif kind == "scan-fallback":
                    scan_fallbacks[detail] += 1
                elif kind in AMOUNTS and detail.isdigit():
                    amounts[kind] += int(detail)
                elif kind in by_detail:
                    by_detail[kind][detail] += 1
    except FileNotFoundError:
        pass
    return {
        "invocations": counts["invocation"],
        "cache_hits": counts["hit"],
        "executed": counts["executed"],
        "direct_hits": counts["direct"],
        "remote_hits": counts["remote-hit"],
        "storage_fallbacks": counts["storage-fallback"],
        "compiler_scans": counts["scan"],
        "own_scans": counts["scan-own"],
        "scan_fallbacks": dict(sorted(scan_fallbacks.items())),
        "scan_verify": {
            "checked": counts["scan-verify"],
            "missing": counts["scan-verify-missing"],
            "depfiles_differ": counts["scan-verify-depfile-differs"],
            "extra_files": amounts["scan-verify-extra"],
            "compiler_files": amounts["scan-verify-files"],
        },
        "travel": {  # see launcher/travel.py
            "hits_from_other_root": by_detail["travel-hit"]["root"],
            "hits_under_other_name": by_detail["travel-hit"]["name"],
            "tied_to_root": counts["travel-embeds-root"],
        },
        "hits_by_tier": {  # where each hit's result came from (direct or not)
            "local_store": counts["hit"] - counts["hit-shared"],
            "shared_store": counts["hit-shared"],
        },
        "executed_by_engine": {
            "local": counts["executed"] - counts["executed-by"],
            "workers": by_detail["executed-by"]["workers"],
            "lambda": by_detail["executed-by"]["lambda"],
        },
        "workers_duplicates": counts["workers-duplicate"],
        "lambda": {
            "invocations": counts["lambda-invoke"],
            "cold_starts": counts["lambda-cold"],
            "throttled": counts["lambda-throttled"],
            "retries": dict(sorted(by_detail["lambda-retry"].items())),
            "function_errors": dict(sorted(by_detail["lambda-function-error"].items())),
            "duplicates": counts["lambda-duplicate"],
            "gb_seconds": round(amounts["lambda-mbms"] / 1024 / 1000, 3),
            "estimated_usd": round(amounts["lambda-nusd"] / 1e9, 6),
        },
        "on_save": {"executed": counts["speculation"], "used_by_builds": counts["speculation-used"]},
        "links": counts["link"],
        "link_traces": counts["link-trace"],
        "bytes_hashed": amounts["bytes-hashed"],
        "bytes_uploaded": amounts["bytes-up"],
        "bytes_downloaded": amounts["bytes-down"],
        "launcher_wait_s": round(amounts["wait-ms"] / 1000, 3),
        "local_fallbacks": dict(sorted(local.items())),
        # Thunks a remote engine gave back and this machine's sandbox ran
        # (counted as executed by the step, not as run without ggcc).
        "engine_fallbacks": dict(sorted(engine_fallbacks.items())),
        "corrupt_blobs": counts["corrupt-blob"],
        "errors": sum(errors.values()),
        "error_kinds": dict(sorted(errors.items())),
    }


def zero(store_root: str) -> None:
    try:
        os.unlink(os.path.join(store_root, "stats.log"))
    except FileNotFoundError:
        pass


def render(s: dict[str, object]) -> str:
    lines = [
        f"invocations      {s['invocations']}",
        f"cache hits       {s['cache_hits']} ({s['direct_hits']} without starting the compiler)",
        f"executed         {s['executed']}",
    ]
    local = s["local_fallbacks"]
    assert isinstance(local, dict)
    lines.append(f"run locally      {sum(local.values())}")
    for reason, n in sorted(local.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {reason:<30} {n}")
    tiers = s["hits_by_tier"]
    assert isinstance(tiers, dict)
    lines.insert(2, f"  by tier        {tiers['local_store']} local store, {tiers['shared_store']} shared store")
    engines = s["executed_by_engine"]
    assert isinstance(engines, dict)
    lines.insert(4, "  by engine      " + ", ".join(f"{n} {e}" for e, n in engines.items())
                 + (f" ({s['workers_duplicates']} stragglers sent twice)" if s["workers_duplicates"] else ""))
    given_back = s["engine_fallbacks"]
    assert isinstance(given_back, dict)
    if given_back:
        lines.insert(5, f"  run here       {sum(given_back.values())} that the remote engine gave back")
        for reason, n in sorted(given_back.items(), key=lambda kv: -kv[1]):
            lines.insert(6, f"    {reason:<28} {n}")
    lam = s["lambda"]
    assert isinstance(lam, dict)
    if lam["invocations"] or lam["throttled"]:
        retries, errors = lam["retries"], lam["function_errors"]
        assert isinstance(retries, dict) and isinstance(errors, dict)
        lines.append(f"lambda           {lam['invocations']} invocations ({lam['cold_starts']} cold), "
                     f"{lam['throttled']} throttled, {sum(retries.values())} other retries, "
                     f"{sum(errors.values())} function errors, {lam['duplicates']} stragglers sent twice")
        for what, n in sorted({**retries, **{f"error: {k}": v for k, v in errors.items()}}.items()):
            lines.append(f"  {what:<30} {n}")
        lines.append(f"  cost           {lam['gb_seconds']} GB-s, about ${lam['estimated_usd']:.6f}")
    travel = s["travel"]
    assert isinstance(travel, dict)
    lines.append(f"other roots      {travel['hits_from_other_root']} hits from another build root, "
                 f"{travel['hits_under_other_name']} under another output name")
    if travel["tied_to_root"]:
        lines.append(f"  tied to root   {travel['tied_to_root']} results record their build's path (-g, __FILE__): "
                     "shared at that path only; -ffile-prefix-map=ROOT=. frees them")
    lines.append(f"shared store     {s['remote_hits']} hits, {s['storage_fallbacks']} fallbacks to local")
    lines.append(f"header scans     {s['own_scans']} by ggcc, {s['compiler_scans']} by the compiler")
    fallbacks = s["scan_fallbacks"]
    assert isinstance(fallbacks, dict)
    for reason, n in sorted(fallbacks.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {reason:<30} {n}")
    verify = s["scan_verify"]
    assert isinstance(verify, dict)
    if verify["checked"]:
        share = 100.0 * verify["extra_files"] / max(1, verify["compiler_files"])
        lines.append(f"  verified       {verify['checked']}: {verify['missing']} missing a header, "
                     f"{verify['depfiles_differ']} depfiles differ, {share:.1f}% extra files")
    saved = s["on_save"]
    assert isinstance(saved, dict)
    if saved["executed"]:
        lines.append(f"run on save      {saved['executed']} compiles and links ({saved['used_by_builds']} used by "
                     "a build, counted there as executed)")
    lines.append(f"links            {s['links']} ({s['link_traces']} traced)")
    lines.append(f"bytes            {_size(s['bytes_hashed'])} hashed, {_size(s['bytes_uploaded'])} uploaded, "
                 f"{_size(s['bytes_downloaded'])} downloaded")
    lines.append(f"launchers waited {s['launcher_wait_s']} s in all")
    if s["corrupt_blobs"]:
        lines.append(f"corrupt blobs    {s['corrupt_blobs']} found on use, removed, their steps run again")
    lines.append(f"errors           {s['errors']}")
    kinds = s["error_kinds"]
    assert isinstance(kinds, dict)
    for what, n in kinds.items():
        lines.append(f"  {what:<30} {n}")
    return "\n".join(lines)


def _size(n: object) -> str:
    return human_size(n if isinstance(n, int) else 0)


def as_json(s: dict[str, object]) -> str:
    import json

    return json.dumps(s, indent=2, sort_keys=True)
