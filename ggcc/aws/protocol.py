"""What the engine sends the function and what it answers: pure functions.

A request names thunks by id, never by content: the thunks and their inputs
are in the shared storage already, so a request is a few hundred bytes
whatever the thunk, and nothing in it is trusted (every blob the function
fetches is checked against its id). The storage URI in it carries no
credentials: the function reaches storage with its own role.

An answer holds one result per thunk, in the order asked. A result that
would push the answer past Lambda's 6 MB synchronous limit (a compiler
printing megabytes of warnings) is stored as a blob and only its id is
sent; the engine fetches and checks it like any other blob.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ggcc.formats import ids
from ggcc.formats.result import Result

VERSION = 1
# Lambda's limit is 6 MB (6,291,456 bytes) each way; keep a margin for the
# JSON around the results.
MAX_ANSWER_BYTES = 5_500_000


class ProtocolError(ValueError):
    """A request or an answer that does not follow this module's format."""


@dataclass(frozen=True)
class Job:
    thunk_id: str
    resolved: dict[str, str]


def strip_credentials(uri: str) -> str:
    """The URI without user and password: those never travel in a payload."""
    parts = urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def encode_request(storage: str, jobs: list[Job]) -> bytes:
    obj = {
        "v": VERSION,
        "storage": strip_credentials(storage),
        "thunks": [{"id": j.thunk_id, "resolved": j.resolved} for j in jobs],
    }
    return json.dumps(obj, separators=(",", ":")).encode("ascii")


def decode_request(event: object) -> tuple[str, list[Job]]:
    if not isinstance(event, dict) or event.get("v") != VERSION:
        raise ProtocolError(f"not a ggcc v{VERSION} request")
    storage = event.get("storage")
    thunks = event.get("thunks")
    if not isinstance(storage, str) or not isinstance(thunks, list) or not thunks:
        raise ProtocolError("a request needs 'storage' and a non-empty 'thunks' list")
    jobs = []
    for t in thunks:
        if not isinstance(t, dict):
            raise ProtocolError("each thunk is an object")
        tid, resolved = t.get("id"), t.get("resolved", {})
        if not (isinstance(tid, str) and ids.is_valid_id(tid) and tid[0] == ids.THUNK):
            raise ProtocolError(f"bad thunk id {tid!r}")
        if not isinstance(resolved, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and ids.is_valid_id(k) and ids.is_valid_id(v) and v[0] == ids.VALUE
            for k, v in resolved.items()
        ):
            raise ProtocolError(f"bad 'resolved' map for {tid}")
        jobs.append(Job(tid, dict(resolved)))
    return storage, jobs


def stored_part(ref: str) -> bytes:
    """An answer's stand-in for a result stored as the blob ``ref``."""
    return json.dumps({"stored": ref}).encode("ascii")


def encode_answer(parts: list[bytes], duration_ms: float, cold: bool) -> bytes:
    """``parts``: per thunk, its result's JSON (Result.to_json) or stored_part()."""
    head = json.dumps({"v": VERSION, "ms": round(duration_ms, 3), "cold": cold}, separators=(",", ":")).encode("ascii")
    return head[:-1] + b',"results":[' + b",".join(parts) + b"]}"


def inline_budget(n_results: int) -> int:
    """How many bytes one of ``n_results`` results may take inline."""
    return MAX_ANSWER_BYTES // max(1, n_results)


@dataclass(frozen=True)
class Answer:
    results: list[Result | str]  # a Result, or the id of a stored one to fetch
    duration_ms: float
    cold: bool


def decode_answer(data: bytes, asked: list[str]) -> Answer:
    """Parse the function's answer to a request for the thunks ``asked``."""
    try:
        obj = json.loads(data)
        if not isinstance(obj, dict) or obj.get("v") != VERSION:
            raise ProtocolError(f"not a ggcc v{VERSION} answer")
        raw = obj["results"]
        if not isinstance(raw, list) or len(raw) != len(asked):
            raise ProtocolError(f"{len(raw) if isinstance(raw, list) else 'no'} results for {len(asked)} thunks")
        results: list[Result | str] = []
        for tid, r in zip(asked, raw):
            if isinstance(r, dict) and set(r) == {"stored"}:
                ref = r["stored"]
                if not (isinstance(ref, str) and ids.is_valid_id(ref)):
                    raise ProtocolError(f"bad stored-result id {ref!r}")
                results.append(ref)
                continue
            res = Result.from_json(json.dumps(r).encode())
            if res.thunk_id != tid:
                raise ProtocolError(f"answer for {res.thunk_id}, asked for {tid}")
            results.append(res)
        return Answer(results, float(obj.get("ms", 0.0)), bool(obj.get("cold", False)))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ProtocolError):
            raise
        raise ProtocolError(f"malformed answer: {type(e).__name__}: {e}") from None
