"""Trace replay: a real libuv build's graph, forced through the Lambda engine
against a simulated function, 1,000-, 100- and 10-way.

    python integration/bench/lambda_replay.py [--trace FILE] [--save FILE] [--cold-ms 200] [--ways 1000,100,10] [--rounds 3]

1. Record (or reuse --trace, a JSON file this script wrote): libuv with its
   tests is configured with CMake + Ninja and built plainly with -j2; the
   graph comes from build.ninja (each compile and link, and which outputs
   each link reads), the run time of each step from .ninja_log.
2. Replay: each step becomes a thunk whose inputs include the thunks it
   depends on; ggcc's scheduler forces the final targets through the real
   LambdaEngine (dispatch, batching, upload checks, answer checks, output
   adoption). Only the function is simulated, in process: an invocation
   takes a warm sandbox or pays --cold-ms to make one, then sleeps the
   recorded run time of its thunk(s) and stores outputs as the real
   function does. Storage is an in-memory backend.
3. The physical limit is the critical path (the longest chain of recorded
   run times) plus one cold start. Goal at 1,000-way: makespan <= 1.2x it.

Prints each way's makespan and ratio, the local -j2 build's time; JSON last.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ggcc.aws import protocol  # noqa: E402
from ggcc.aws.invoke import Reply  # noqa: E402
from ggcc.engines.aws_lambda import LambdaEngine  # noqa: E402
from ggcc.engines.local import LocalEngine  # noqa: E402
from ggcc.engines.scheduler import force  # noqa: E402
from ggcc.formats import ids  # noqa: E402
from ggcc.formats.result import OutputValue, Result  # noqa: E402
from ggcc.formats.thunk import Input, Output, Thunk  # noqa: E402
from ggcc.storage.local_store import LocalStore  # noqa: E402
from ggcc.storage.tiered import TieredStore  # noqa: E402


# -- recording ----------------------------------------------------------------------
def record() -> dict[str, Any]:
    from debian_sources import copy_of

    work = Path(tempfile.mkdtemp(prefix="replay-"))
    try:
        tree = copy_of("libuv1", work)
        build = tree / "build"
        build.mkdir()
        subprocess.run(["cmake", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DLIBUV_BUILD_TESTS=ON", ".."],
                       cwd=build, check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(["ninja", "-j2"], cwd=build, check=True, capture_output=True)
        local_s = time.perf_counter() - t0
        times: dict[str, float] = {}
        for line in (build / ".ninja_log").read_text().splitlines()[1:]:
            start, end, _, out, _ = line.split("\t")
            times[out] = (int(end) - int(start)) / 1000.0
        steps: dict[str, dict[str, Any]] = {}
        for line in (build / "build.ninja").read_text().splitlines():
            if not line.startswith("build ") or ":" not in line:
                continue
            head, _, rest = line[len("build "):].partition(": ")
            outs = [o for o in head.split(" |")[0].split() if o in times]
            if not outs:
                continue
            words = rest.split("||")[0].replace("|", " ").split()[1:]  # past the rule name
            steps[outs[0]] = {"time_s": times[outs[0]], "deps": sorted(set(w for w in words if w in times and w != outs[0]))}
        return {"local_j2_s": local_s, "steps": steps}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- the simulated function -------------------------------------------------------------
class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def missing(self, keys: list[str]) -> list[str]:
        with self.lock:
            return [k for k in keys if k not in self.objects]

    def put_file(self, key: str, path: str) -> None:
        data = Path(path).read_bytes()
        with self.lock:
            self.objects[key] = data

    def put_files(self, items: list[tuple[str, str]]) -> None:
        for k, p in items:
            self.put_file(k, p)

    def get_file(self, key: str, dest: str) -> bool:
        with self.lock:
            data = self.objects.get(key)
        if data is None:
            return False
        Path(dest).write_bytes(data)
        return True

    def put_small(self, key: str, data: bytes) -> None:
        with self.lock:
            self.objects[key] = data

    def get_small(self, key: str) -> bytes | None:
        with self.lock:
            return self.objects.get(key)

    def describe(self) -> str:
        return "memory://"


class SimFunction:
    """Sandboxes made on demand (cold start), reused while idle.

    Its answers are made in advance: the real function's work happens on
    Lambda, not on this machine's cores, so the simulation must not take
    CPU from the forcer it measures. Outputs are put in storage up front
    (the engine only looks for them after the answer)."""

    def __init__(self, backend: MemoryBackend, store: TieredStore, times: dict[str, float], cold_s: float) -> None:
        self.backend = backend
        self.times = times  # thunk id -> recorded run time
        self.cold_s = cold_s
        self.idle = 0
        self.lock = threading.Lock()
        self.cold_starts = 0
        self.answers: dict[str, bytes] = {}  # thunk id -> its result's JSON
        for tid in times:
            outs = []
            for o in store.local.load_thunk(tid).outputs:
                data = f"{tid} {o.tag}".encode()
                vid = ids.value_id_of_bytes(data)
                backend.put_small(f"blobs/{ids.store_key(vid)}", data)
                outs.append(OutputValue(o.tag, vid))
            self.answers[tid] = Result(tid, 0, tuple(outs)).to_json()

    def invoke(self, function: str, payload: bytes) -> Reply:
        _, jobs = protocol.decode_request(json.loads(payload))
        with self.lock:
            cold = self.idle == 0
            if cold:
                self.cold_starts += 1
            else:
                self.idle -= 1
        t0 = time.perf_counter()
        if cold:
            time.sleep(self.cold_s)
        time.sleep(sum(self.times[j.thunk_id] for j in jobs))  # one thunk after another
        parts = [self.answers[j.thunk_id] for j in jobs]
        with self.lock:
            self.idle += 1
        return Reply(200, "", "", protocol.encode_answer(parts, (time.perf_counter() - t0) * 1e3, cold))


class SimClient:
    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        import platform

        arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
        return {"Timeout": 900, "MemorySize": 3008, "EphemeralStorage": {"Size": 10240}, "Architectures": [arch]}


# -- replay ---------------------------------------------------------------------------------
def make_thunks(store: TieredStore, steps: dict[str, dict[str, Any]]) -> tuple[dict[str, Thunk], dict[str, float], list[str]]:
    prog = Input("bin/step", store.local.put_bytes(b"#!/bin/sh\n"), True)
    made: dict[str, str] = {}  # output -> thunk id
    known: dict[str, Thunk] = {}
    times: dict[str, float] = {}

    def make(out: str) -> str:
        if out in made:
            return made[out]
        deps = [Input(f"in/{d}", make(d)) for d in steps[out]["deps"]]
        t = Thunk.make(prog, ["step", out], inputs=deps, outputs=[Output("out", f"out/{out}")])
        tid = store.local.put_thunk(t)
        made[out], known[tid], times[tid] = tid, t, steps[out]["time_s"]
        return tid

    for out in steps:
        make(out)
    needed = {d for s in steps.values() for d in s["deps"]}
    targets = [made[o] for o in steps if o not in needed]
    return known, times, targets


def critical_path(steps: dict[str, dict[str, Any]]) -> float:
    memo: dict[str, float] = {}

    def finish(o: str) -> float:
        if o not in memo:
            memo[o] = steps[o]["time_s"] + max((finish(d) for d in steps[o]["deps"]), default=0.0)
        return memo[o]

    return max(finish(o) for o in steps)


def replay(steps: dict[str, dict[str, Any]], ways: int, cold_s: float) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        backend = MemoryBackend()
        store = TieredStore(LocalStore(d), backend)  # type: ignore[arg-type]
        known, times, targets = make_thunks(store, steps)
        sim = SimFunction(backend, store, times, cold_s)
        engine = LambdaEngine(store, LocalEngine(store, 1), "s3://sim/x", "sim",
                              control_client=SimClient, invoker_factory=lambda t: sim,  # type: ignore[arg-type,return-value]
                              concurrency=ways)
        t0 = time.perf_counter()
        report = force(targets, store, engine, known=known)
        makespan = time.perf_counter() - t0
        engine.shutdown()
        assert report.ok, report.failures[:2]
        return makespan, sim.cold_starts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trace", default="", help="a trace this script wrote (default: record one now)")
    p.add_argument("--save", default="", help="write the recorded trace here")
    p.add_argument("--cold-ms", type=float, default=200)
    p.add_argument("--ways", default="1000,100,10")
    p.add_argument("--rounds", type=int, default=3, help="replays per way; the median is reported")
    a = p.parse_args()
    trace = json.loads(Path(a.trace).read_text()) if a.trace else record()
    if a.save:
        Path(a.save).write_text(json.dumps(trace))
    steps = trace["steps"]
    cp = critical_path(steps)
    limit = cp + a.cold_ms / 1000
    total = sum(s["time_s"] for s in steps.values())
    print(f"libuv: {len(steps)} steps, {total:.1f} s of run time in all; critical path {cp:.2f} s; "
          f"physical limit {limit:.2f} s (+{a.cold_ms:.0f} ms cold start); local ninja -j2: {trace['local_j2_s']:.1f} s")
    out: dict[str, Any] = {"steps": len(steps), "critical_path_s": round(cp, 3), "limit_s": round(limit, 3),
                           "local_j2_s": round(trace["local_j2_s"], 2)}
    for ways in [int(w) for w in a.ways.split(",")]:
        rounds = [replay(steps, ways, a.cold_ms / 1000) for _ in range(max(1, a.rounds))]
        makespan = statistics.median(m for m, _ in rounds)
        cold = rounds[0][1]
        print(f"{ways:>5}-way: makespan median {makespan:.2f} s = {makespan / limit:.2f}x the limit "
              f"(rounds: {', '.join(f'{m:.2f}' for m, _ in rounds)} s; {cold} cold starts)", flush=True)
        out[f"makespan_{ways}_s"] = round(makespan, 3)
        out[f"ratio_{ways}"] = round(makespan / limit, 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
