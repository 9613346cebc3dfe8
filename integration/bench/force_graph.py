"""Forcing 10,000 `true` thunks on the local engine: ggcc's own cost per thunk.

    python integration/bench/force_graph.py [--thunks 10000] [--jobs 2]

Three measurements in one run, in a fresh store:

Rounds are medians of --rounds (default 3).

  start-up   N runs of /bin/true, `jobs` at a time, spawned the way the
             executor spawns (own session, stdout/stderr to files): the
             process start-up cost that any runner pays.
  cold       making the N thunks (hashing, serializing, storing) and forcing
             them: bookkeeping per thunk = (cold - start-up) / N.
             Goal <= 1 ms.
  warm       forcing the same N again: all cache hits. Goal <= 0.2 ms each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time

from ggcc.engines.local import LocalEngine
from ggcc.engines.scheduler import force
from ggcc.formats.result import Result
from ggcc.formats.thunk import Input, Thunk
from ggcc.storage.local_store import LocalStore


def startup_baseline(n: int, jobs: int, scratch: str) -> float:
    counter = iter(range(n))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            with open(os.path.join(scratch, "o"), "wb") as o, open(os.path.join(scratch, "e"), "wb") as e:
                p = subprocess.Popen(
                    ["/bin/true", str(i)], stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                    start_new_session=True, close_fds=True,
                )
            p.wait()

    t = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


def one_round(n: int, jobs: int, d: str) -> dict[str, float]:
    if True:
        base = startup_baseline(n, jobs, d)
        store = LocalStore(os.path.join(d, "store"))
        t0 = time.perf_counter()
        prog = Input(".ggcc/bin/true", store.put_file(os.path.realpath("/bin/true")), True)
        made = {}
        for i in range(n):
            t = Thunk.make(prog, ["true", str(i)])
            made[store.put_thunk(t)] = t
        tids = list(made)
        t1 = time.perf_counter()
        engine = LocalEngine(store, jobs)
        report = force(tids, store, engine, known=made)
        t2 = time.perf_counter()
        assert report.ok and report.executed == n, report.failures[:3]
        warm = force(tids, store, engine, known=made)
        t3 = time.perf_counter()
        engine.shutdown()
        assert warm.ok and warm.hits == n and warm.executed == 0
        setup, run = [], []
        for tid in tids[:: max(1, n // 1000)]:
            with open(store.result_path(tid), "rb") as f:
                r = Result.from_json(f.read())
            setup.append(r.timings_ms["setup"])
            run.append(r.timings_ms["run"])
    ms = 1e3 / n
    return {
        "startup_ms": base * ms,
        "make_ms": (t1 - t0) * ms,
        "cold_ms": (t2 - t1) * ms,
        "bookkeeping_ms": (t2 - t0 - base) * ms,
        "hit_ms": (t3 - t2) * ms,
        "sandbox_setup_ms": statistics.median(setup),
        "run_ms": statistics.median(run),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thunks", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    # Every round's store is kept until the end: on this kind of VM (ext4,
    # online discard) deleting tens of thousands of files slows file
    # creation 10x for many seconds, and the benchmark must not measure its
    # own clean-up.
    os.sync()
    with tempfile.TemporaryDirectory() as top:
        rounds = []
        for i in range(a.rounds):
            d = os.path.join(top, f"round{i}")
            os.mkdir(d)
            rounds.append(one_round(a.thunks, a.jobs, d))
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(f"{a.thunks} `true` thunks, --jobs {a.jobs}, medians of {a.rounds} rounds (ms per thunk)")
    print(f"  process start-up alone       {med['startup_ms']:6.3f}")
    print(f"  make thunks (hash, store)    {med['make_ms']:6.3f}")
    print(f"  force, cold                  {med['cold_ms']:6.3f}")
    print(f"    executor: sandbox set-up {med['sandbox_setup_ms']:.3f}, run {med['run_ms']:.3f} (per thunk, medians)")
    print(f"  ggcc bookkeeping             {med['bookkeeping_ms']:6.3f}   (make + cold - start-up; goal <= 1 ms)")
    print(f"  force, warm (all hits)       {med['hit_ms']:6.3f}   (goal <= 0.2 ms)")
    print("  rounds, bookkeeping: " + ", ".join(f"{r['bookkeeping_ms']:.3f}" for r in rounds))
    print(json.dumps({k: round(v, 3) for k, v in med.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
