"""Named counters with reasons, shared by every ggcc process of a store.

Each event is one short line appended to ``<store>/stats.log`` with
O_APPEND: concurrent writers of lines shorter than PIPE_BUF never interleave,
and appending costs one open and one write, which the launcher can afford
on every compile. ``ggcc stats`` sums the lines (commands/stats_report.py);
``--zero`` empties the file.

Every event is a member of ``Event`` below, the one catalogue (ccache's
statistic.hpp): ``record`` takes nothing else, so a new counter is added
here, with what it means, or not at all. A line is the event's word, then
for some events a detail: a reason, a name, or an amount to sum.
"""

from __future__ import annotations

import enum
import os
from contextvars import ContextVar
from typing import Union


class Detail(enum.Enum):
    NONE = "none"  # the event alone
    REASON = "reason"  # counted per reason (a word or a short phrase)
    AMOUNT = "amount"  # a whole number, summed


class Event(enum.Enum):
    """Every counter: its word in stats.log, what it counts, its detail."""

    def __init__(self, word: str, doc: str, detail: Detail = Detail.NONE) -> None:
        self.word = word
        self.doc = doc
        self.detail = detail

    INVOCATION = ("invocation", "a step (compile, link, archive) a launcher asked for")
    HIT = ("hit", "a step answered from the cache")
    HIT_SHARED = ("hit-shared", "... whose result came from the shared store")
    DIRECT = ("direct", "... found without starting the compiler (direct mode)")
    EXECUTED = ("executed", "a step whose thunk ran")
    IN_PLACE = ("in-place", "... run in the build tree, its inputs from its depfile (local engine)")
    UNFILED = ("unfiled", "a step run in place whose result (or direct-mode record) was not kept, and why", Detail.REASON)
    EXECUTED_BY = ("executed-by", "... on a remote engine (workers, lambda, reapi)", Detail.REASON)
    LOCAL = ("local", "a step the real compiler ran without ggcc, and why", Detail.REASON)
    ENGINE_FALLBACK = ("engine-fallback", "a thunk a remote engine gave back, run here, and why", Detail.REASON)
    ERROR = ("error", "something went wrong (ggcc carried on), and what", Detail.REASON)
    REMOTE_HIT = ("remote-hit", "a result brought from the shared store")
    STORAGE_FALLBACK = ("storage-fallback", "the shared store failed: left alone for a while")
    CORRUPT_BLOB = ("corrupt-blob", "a stored blob whose bytes were not its id's, found on use and removed")
    SCAN = ("scan", "the compiler ran to list a compile's dependencies")
    SCAN_OWN = ("scan-own", "ggcc's own preprocessor scan listed them")
    SCAN_FALLBACK = ("scan-fallback", "the own scan gave way to the compiler's, and why", Detail.REASON)
    SCAN_VERIFY = ("scan-verify", "an own scan checked against the compiler's (GGCC_SCAN_VERIFY=1)")
    SCAN_VERIFY_MISSING = ("scan-verify-missing", "... that missed a header")
    SCAN_VERIFY_DEPFILE = ("scan-verify-depfile-differs", "... whose depfile differed")
    SCAN_VERIFY_FILES = ("scan-verify-files", "files the compiler listed, in checked scans", Detail.AMOUNT)
    SCAN_VERIFY_EXTRA = ("scan-verify-extra", "files the own scan listed beyond those", Detail.AMOUNT)
    TRAVEL_HIT = ("travel-hit", "a result found under another build root (root) or output name (name)",
                  Detail.REASON)
    TRAVEL_EMBEDS_ROOT = ("travel-embeds-root", "a result that records its build's path: not shared across roots")
    SPECULATION = ("speculation", "a compile or link run on save")
    SPECULATION_USED = ("speculation-used", "a build's step that found a run on save (counted as executed)")
    LINK = ("link", "a link step")
    LINK_TRACE = ("link-trace", "a link traced to learn the files it reads")
    WORKERS_DUPLICATE = ("workers-duplicate", "a farm's straggler sent a second time")
    REAPI_CACHED = ("reapi-cached", "a step the REAPI farm answered from its ActionCache")
    LAMBDA_INVOKE = ("lambda-invoke", "a Lambda invocation")
    LAMBDA_COLD = ("lambda-cold", "... that started cold")
    LAMBDA_THROTTLED = ("lambda-throttled", "... throttled (429)")
    LAMBDA_RETRY = ("lambda-retry", "... retried, and why", Detail.REASON)
    LAMBDA_FUNCTION_ERROR = ("lambda-function-error", "... failed in the function, and how", Detail.REASON)
    LAMBDA_DUPLICATE = ("lambda-duplicate", "a Lambda straggler sent a second time")
    LAMBDA_MBMS = ("lambda-mbms", "Lambda billing, in MB-milliseconds", Detail.AMOUNT)
    LAMBDA_NUSD = ("lambda-nusd", "Lambda's estimated cost, in nano-dollars", Detail.AMOUNT)
    BYTES_HASHED = ("bytes-hashed", "bytes hashed", Detail.AMOUNT)
    BYTES_UP = ("bytes-up", "bytes uploaded to the shared store", Detail.AMOUNT)
    BYTES_DOWN = ("bytes-down", "bytes downloaded from it", Detail.AMOUNT)
    WAIT_MS = ("wait-ms", "milliseconds launchers waited on the daemon", Detail.AMOUNT)


BY_WORD = {e.word: e for e in Event}
# One event of a line: alone, or with its reason or amount.
Item = Union[Event, "tuple[Event, object]"]

# `ggcc make`, `ggcc ninja` and `ggcc infer` give their build an id in the
# environment: what is counted while answering one of its requests also
# goes to builds/<id>.log, so that its summary counts its own steps, not
# those of a build running beside it.
BUILD_ENV = "GGCC_BUILD"
build: ContextVar[str] = ContextVar("build", default="")


def line(item: Item) -> str:
    """An event as stats.log holds it."""
    if isinstance(item, Event):
        return item.word
    e, detail = item
    text = str(detail).replace("\n", " ")
    return f"{e.word} {text}"[:200]


def record(store_root: str, *events: Item) -> None:
    text = "".join(line(e) + "\n" for e in events).encode("utf-8", "replace")
    try:
        os.makedirs(store_root, exist_ok=True)
        _append(os.path.join(store_root, "stats.log"), text)
        b = build.get()
        if b:
            _append(build_log(store_root, b), text)
    except OSError:
        pass  # counting must never break a build


def _append(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def build_log(store_root: str, build_id: str) -> str:
    """Where a build's own events go (the id is checked: it names a file)."""
    if not build_id.isalnum():
        raise ValueError(f"not a build id: {build_id!r}")
    d = os.path.join(store_root, "builds")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, build_id + ".log")


def zero(store_root: str) -> None:
    try:
        os.unlink(os.path.join(store_root, "stats.log"))
    except FileNotFoundError:
        pass
