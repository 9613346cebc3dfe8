"""Queue overhead of the build farm: no-op thunks through `ggcc worker`s vs the local engine.

    python integration/bench/farm_queue.py [--thunks 10000] [--workers 4] [--latency 200]

In one run, on this machine, with a private redis-server on 127.0.0.1:

- throughput: --thunks distinct `true` thunks forced through --workers local
  worker processes (one job each) with GGCC_ENGINE=workers, all in flight
  at once, vs the same number on the local engine with as many jobs;
- latency: --latency thunks forced one at a time, each through a worker
  and each on the local engine: the median added per thunk by the queue
  (enqueue, a worker's fetch, run and store, the answer).

Prints thunks per second, medians and the added latency; JSON last.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from ggcc.engines import EngineSettings  # noqa: E402
from ggcc.engines.local import LocalEngine  # noqa: E402
from ggcc.engines.scheduler import force  # noqa: E402
from ggcc.engines.workers import open_workers_engine  # noqa: E402
from ggcc.formats.thunk import Input, Thunk  # noqa: E402
from ggcc.storage import open_store  # noqa: E402
from ggcc.storage.local_store import LocalStore  # noqa: E402
from ggcc.workers.queue import open_queue  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def thunks(store: LocalStore, n: int, tag: str) -> dict[str, Thunk]:
    prog = Input(".ggcc/bin/true", store.put_file(os.path.realpath("/bin/true")), True)
    made = {}
    for i in range(n):
        t = Thunk.make(prog, ["true", tag, str(i)])
        made[store.put_thunk(t)] = t
    return made


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thunks", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--latency", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
        uri = f"redis://127.0.0.1:{port}/0"
        workers = []
        try:
            time.sleep(0.5)
            for i in range(a.workers):
                env = dict(os.environ, GGCC_DIR=os.path.join(d, f"w{i}"), PYTHONPATH=str(HERE.parent.parent))
                workers.append(subprocess.Popen([sys.executable, "-m", "ggcc", "worker", "--storage", uri, "--jobs", "1",
                                                 "--name", f"w{i}"], env=env, stdout=subprocess.DEVNULL))
            store = open_store(os.path.join(d, "forcer"), uri)
            q = open_queue(store.shared, 5, "the bench")
            while len(q.live_workers()) < a.workers:
                time.sleep(0.2)
            local_store = LocalStore(os.path.join(d, "local"))

            made = thunks(local_store, a.thunks, "local")
            engine = LocalEngine(local_store, a.workers)
            t = time.perf_counter()
            assert force(list(made), local_store, engine, known=made).ok
            local_s = time.perf_counter() - t

            made = thunks(store.local, a.thunks, "farm")
            farm = open_workers_engine(store, LocalEngine(store, 1), EngineSettings("workers"),
                                       in_flight=max(64, a.workers * 16))
            t = time.perf_counter()
            report = force(list(made), store, farm, known=made)
            farm_s = time.perf_counter() - t
            assert report.ok and report.executed == a.thunks, report.failures[:2]

            lat_local: list[float] = []
            lat_farm: list[float] = []
            one_local = thunks(local_store, a.latency, "lat-local")
            one_farm = thunks(store.local, a.latency, "lat-farm")
            for (tl, thl), (tf, thf) in zip(one_local.items(), one_farm.items()):
                t = time.perf_counter()
                assert force([tl], local_store, engine, known={tl: thl}).ok
                lat_local.append(time.perf_counter() - t)
                t = time.perf_counter()
                assert force([tf], store, farm, known={tf: thf}).ok
                lat_farm.append(time.perf_counter() - t)
            engine.shutdown()
            farm.shutdown()
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait()
            redis.kill()
            redis.wait()
    ml, mf = statistics.median(lat_local) * 1000, statistics.median(lat_farm) * 1000
    print(f"{a.thunks} no-op thunks, {a.workers} local workers (one job each) vs the local engine at -j{a.workers}")
    print(f"  throughput  workers {a.thunks / farm_s:8.0f} thunks/s   local {a.thunks / local_s:8.0f} thunks/s")
    print(f"  latency     workers {mf:8.2f} ms/thunk   local {ml:8.2f} ms/thunk   added by the queue {mf - ml:.2f} ms "
          f"(median of {a.latency}, one at a time)")
    print(json.dumps({"workers_per_s": round(a.thunks / farm_s, 1), "local_per_s": round(a.thunks / local_s, 1),
                      "latency_workers_ms": round(mf, 3), "latency_local_ms": round(ml, 3),
                      "added_latency_ms": round(mf - ml, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
