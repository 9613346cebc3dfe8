"""Redis as shared storage: values chunked under Redis's limits, batched checks.

A blob is stored as chunks ``<key>:<i>`` (8 MiB each) and then a marker
``<key>`` holding the chunk count, written last: a reader that sees the
marker sees every chunk, unless Redis evicted one since (maxmemory-policy
allkeys-lru), which reads as a miss. Existence is a pipelined EXISTS of
markers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from ggcc.storage.backend import ReadOnly, StorageError

T = TypeVar("T")

CHUNK = 8 << 20


class RedisBackend:
    name = "redis"

    def __init__(self, host: str, port: int, db: int, username: str | None, password: str | None, tls: bool) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._where = f"{'rediss' if tls else 'redis'}://{host}:{port}/{db}"
        self._params = {"host": host, "port": port, "db": db, "username": username, "password": password, "ssl": tls}
        self._errors = (redis.exceptions.RedisError, OSError)
        self._refused = (redis.exceptions.NoPermissionError, redis.exceptions.ReadOnlyError)
        self.r = redis.Redis(
            host=host, port=port, db=db, username=username, password=password, ssl=tls,
            socket_timeout=5, socket_connect_timeout=2,
            # The tier retries with its own bounded backoff; redis-py's
            # default retries would multiply that (4 s per call when down).
            retry=Retry(NoBackoff(), 0),
        )

    def describe(self) -> str:
        return self._where

    def client(self, timeout_s: float | None) -> object:
        """Another connection to the same server, for blocking reads (the
        storage client times out after 5 s; a queue read may wait longer)."""
        import redis

        return redis.Redis(**self._params, socket_timeout=timeout_s, socket_connect_timeout=2)  # type: ignore[arg-type]

    def _do(self, fn: Callable[..., T], *args: object, writing: bool = False) -> T:
        try:
            return fn(*args)
        except self._refused as e:  # an ACL user without write commands, or a read-only replica
            if writing:
                raise ReadOnly(f"{self._where}: writes refused ({e.__class__.__name__})") from None
            raise StorageError(f"{self._where}: reads refused ({e.__class__.__name__}): check the user's ACL") from None
        except self._errors as e:
            raise StorageError(f"{self._where}: {e.__class__.__name__}: {e}") from None

    def missing(self, keys: list[str]) -> list[str]:
        def run() -> list[str]:
            pipe = self.r.pipeline(transaction=False)
            for k in keys:
                pipe.exists(k)
            return [k for k, n in zip(keys, pipe.execute()) if not n]

        return list(self._do(run))

    def put_file(self, key: str, path: str) -> None:
        def run() -> None:
            if os.path.getsize(path) <= CHUNK:  # one round trip: chunk, then marker
                with open(path, "rb") as f:
                    data = f.read()
                pipe = self.r.pipeline(transaction=False)
                pipe.set(f"{key}:0", data)
                pipe.set(key, "1")
                pipe.execute()
                return
            n = 0
            with open(path, "rb") as f:
                while True:
                    data = f.read(CHUNK)
                    if not data and n:
                        break
                    self.r.set(f"{key}:{n}", data)
                    n += 1
                    if len(data) < CHUNK:
                        break
            self.r.set(key, str(n))

        self._do(run, writing=True)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        """Small files in pipelines of 64 (one round trip each), big ones alone."""
        small = [(k, p) for k, p in items if os.path.getsize(p) <= CHUNK]
        for k, p in items:
            if os.path.getsize(p) > CHUNK:
                self.put_file(k, p)

        def run(batch: list[tuple[str, str]]) -> None:
            pipe = self.r.pipeline(transaction=False)
            for k, p in batch:
                with open(p, "rb") as f:
                    pipe.set(f"{k}:0", f.read())
            for k, _ in batch:  # markers after every chunk of the batch
                pipe.set(k, "1")
            pipe.execute()

        for i in range(0, len(small), 64):
            self._do(run, small[i : i + 64], writing=True)

    def get_file(self, key: str, dest: str) -> bool:
        def run() -> bool:
            marker = self.r.get(key)
            if marker is None:
                return False
            n = int(marker)
            with open(dest, "wb") as f:
                for i in range(n):
                    data = self.r.get(f"{key}:{i}")
                    if data is None:
                        # An LRU-evicted chunk: a miss, not an outage.
                        f.close()
                        return False
                    f.write(bytes(data))  # type: ignore[arg-type]
            return True

        return bool(self._do(run))

    def put_small(self, key: str, data: bytes) -> None:
        self._do(self.r.set, key, data, writing=True)

    def get_small(self, key: str) -> bytes | None:
        v = self._do(self.r.get, key)
        return bytes(v) if v is not None else None  # type: ignore[arg-type]

    def delete(self, key: str) -> None:
        def run() -> None:
            marker = self.r.get(key)
            n = int(marker) if marker is not None and bytes(marker).isdigit() else 1  # type: ignore[arg-type]
            self.r.delete(key, *(f"{key}:{i}" for i in range(n)))  # the marker first: a reader sees a miss

        self._do(run, writing=True)
