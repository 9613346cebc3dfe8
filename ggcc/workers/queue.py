"""The work queue in Redis: a stream of thunk ids, one consumer group of workers.

    XADD   ggcc:queue  thunk=<id> resolved=<json> reply=<list key>
    XREADGROUP GROUP ggcc-workers <worker> ... >      a worker takes entries
    XACK                                             ...and acknowledges each
    XAUTOCLAIM ... <min idle>                        entries of a dead worker
    LPUSH  <reply key>  <result json>                the answer (BLPOP'd)
    HSET   ggcc:workers <name> <json>                heartbeat, every 5 s (stale after 15)

An entry stays pending until a worker acknowledges it, so one taken by a
worker that died is claimed by another after CLAIM_AFTER_S (a live worker
touches the entries it is running well before that); one delivered
MAX_DELIVERIES times is answered with a failure instead, so nothing runs
forever. Only ids travel: the thunk and its inputs are in the shared store,
where the worker checks every one against its id before use.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ggcc.base import settings
from ggcc.formats.result import Result

STREAM = "ggcc:queue"
GROUP = "ggcc-workers"
WORKERS = "ggcc:workers"
HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_TTL_S = 15
REPLY_TTL_S = 3600
CLAIM_AFTER_S = settings.number(os.environ, "GGCC_WORKER_CLAIM_S", 60.0)  # a wrong value: `ggcc worker` refuses it
MAX_DELIVERIES = 3
WAIT_SLICE_S = 2


class EntryLost(Exception):
    """The entry left the queue with no answer (Redis lost its data)."""


@dataclass(frozen=True)
class Job:
    entry: str  # the stream entry id
    thunk_id: str
    resolved: dict[str, str]
    reply: str


class Queue:
    def __init__(self, client: Any) -> None:
        self.r = client  # a redis.Redis whose socket timeout exceeds the blocking reads

    # -- the forcer's side --------------------------------------------------
    def submit(self, thunk_id: str, resolved: dict[str, str]) -> tuple[str, str]:
        """Enqueue a thunk; returns (its entry id, the key its answer will be pushed to)."""
        reply = f"ggcc:reply:{uuid.uuid4().hex}"
        entry = self.r.xadd(STREAM, {"thunk": thunk_id, "resolved": json.dumps(resolved), "reply": reply})
        return _s(entry), reply

    def wait(self, pending: list[tuple[str, str]], timeout_s: float) -> Result | None:
        """The first answer to any of pending's (entry, reply key); None after
        timeout_s; EntryLost once every entry is gone without an answer.

        BLPOP in slices of WAIT_SLICE_S: between them, an entry that is no
        longer in the stream with no answer pushed was lost (Redis restarted
        without its data), and waiting on would only reach the timeout.
        """
        deadline = time.monotonic() + timeout_s
        replies = [r for _, r in pending]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            got = self.r.blpop(replies, timeout=max(1, int(min(left, WAIT_SLICE_S))))
            if got is not None:
                self.r.delete(_s(got[0]))
                return Result.from_json(got[1])
            if all(not self.r.xrange(STREAM, min=e, max=e, count=1) and not self.r.exists(r) for e, r in pending):
                raise EntryLost(pending[0][0])

    def live_workers(self) -> list[dict[str, Any]]:
        """Workers whose last heartbeat is recent (one HGETALL; stale ones are removed)."""
        out = []
        stale = []
        now = time.time()
        for name, data in self.r.hgetall(WORKERS).items():
            try:
                info = json.loads(data)
                fresh = now - float(info["time"]) < HEARTBEAT_TTL_S
            except (ValueError, KeyError, TypeError):
                fresh = False
            if fresh:
                out.append(info)
            else:
                stale.append(name)
        if stale:
            self.r.hdel(WORKERS, *stale)
        return sorted(out, key=lambda w: str(w.get("name", "")))

    def backlog(self) -> int:
        """Entries not yet acknowledged by any worker (taken or not)."""
        try:
            info = self.r.xinfo_groups(STREAM)
        except Exception:
            return 0
        for g in info:
            if g.get("name") in (GROUP, GROUP.encode()):
                return int(g.get("pending", 0)) + int(g.get("lag", 0) or 0)
        return 0

    # -- the worker's side --------------------------------------------------
    def ensure_group(self) -> None:
        import redis

        try:
            self.r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def take(self, worker: str, count: int, block_ms: int) -> list[Job]:
        got = self.r.xreadgroup(GROUP, worker, {STREAM: ">"}, count=count, block=block_ms)
        return [j for _, entries in (got or []) for j in self._jobs(entries)]

    def _drop(self, entries: list[str]) -> None:
        """Entries that are not jobs (written by something else): acknowledged and removed."""
        if entries:
            self.r.xack(STREAM, GROUP, *entries)
            self.r.xdel(STREAM, *entries)

    def claim_stale(self, worker: str, count: int) -> list[Job]:
        """Entries another worker took and has not acknowledged for CLAIM_AFTER_S."""
        got = self.r.xautoclaim(STREAM, GROUP, worker, min_idle_time=int(CLAIM_AFTER_S * 1000), start_id="0-0",
                                count=count)
        entries = got[1] if got else []
        return list(self._jobs(entries))

    def still_mine(self, worker: str, entries: list[str]) -> None:
        """Reset the idle time of entries this worker is running, so a long
        compile is not claimed by another worker as if its owner were dead."""
        if entries:
            self.r.xclaim(STREAM, GROUP, worker, 0, entries, justid=True)

    def deliveries(self, entry: str) -> int:
        info = self.r.xpending_range(STREAM, GROUP, min=entry, max=entry, count=1)
        return int(info[0]["times_delivered"]) if info else 0

    def answer(self, job: Job, result: Result) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(job.reply, result.to_json())
        pipe.expire(job.reply, REPLY_TTL_S)
        pipe.xack(STREAM, GROUP, job.entry)
        pipe.xdel(STREAM, job.entry)
        pipe.execute()

    def heartbeat(self, name: str, jobs: int, running: int, done: int) -> None:
        info = {"name": name, "host": os.uname().nodename, "pid": os.getpid(), "jobs": jobs, "running": running,
                "done": done, "time": time.time()}
        self.r.hset(WORKERS, name, json.dumps(info))

    def leave(self, name: str) -> None:
        self.r.hdel(WORKERS, name)

    def _jobs(self, entries: list[Any]) -> list[Job]:
        out = []
        bad = []
        for entry_id, fields in entries:
            if not fields:
                bad.append(_s(entry_id))  # deleted meanwhile
                continue
            f = {_s(k): _s(v) for k, v in fields.items()}
            try:
                resolved = json.loads(f["resolved"])
                if not isinstance(resolved, dict) or not f["reply"].startswith("ggcc:reply:"):
                    raise ValueError("not a ggcc job")
                out.append(Job(_s(entry_id), f["thunk"], {str(k): str(v) for k, v in resolved.items()}, f["reply"]))
            except (KeyError, ValueError):
                bad.append(_s(entry_id))
        self._drop(bad)
        return out


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def open_queue(backend: object, timeout_s: float, who: str) -> Queue:
    """The queue on a shared store's Redis; GgccError naming ``who`` (the
    command or setting that needs it) if the store is not Redis. The one
    place a queue is made from a store."""
    from ggcc.base.errors import GgccError
    from ggcc.storage.redis_backend import RedisBackend

    if not isinstance(backend, RedisBackend):
        raise GgccError(f"{who} needs the farm's Redis: set GGCC_STORAGE=redis://host:port/db (or give --storage)")
    return Queue(backend.client(timeout_s=timeout_s))


def open_queue_at(uri: str, timeout_s: float, who: str, env: Mapping[str, str] | None = None) -> tuple[Queue, str]:
    """The queue at a storage URI (its credentials from ``env``, default the
    process's), and the store's description (for messages)."""
    from ggcc.storage.uri import open_backend

    backend = open_backend(uri, env) if uri.startswith(("redis://", "rediss://")) else None
    q = open_queue(backend, timeout_s, who)
    assert backend is not None
    return q, backend.describe()

