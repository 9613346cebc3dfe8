"""Uploading 1,000 new 50 KB blobs to Redis and to S3 (moto's server), then again.

    python integration/bench/storage_upload.py [--blobs 1000] [--size-kb 50] [--runs 3]

Starts redis-server and moto's S3 server on 127.0.0.1 random ports (the test
fixtures), and in the same run times:
  redis  ggcc's batched check + parallel upload; then the same blobs again
         (nothing re-sent). Goals: <= 0.3 s, then <= 0.2 s.
  s3     ggcc vs `aws s3 cp --recursive` of the same files (awscli must be
         installed: pip install awscli). Goal: ggcc >= 1.3x faster. On
         loopback moto's single process is the bottleneck (~150 PUT/s).
Prints medians, ratios, and a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))  # the server fixtures

from servers import redis_server, s3_server  # noqa: E402

from ggcc.storage.local_store import LocalStore  # noqa: E402
from ggcc.storage.tiered import TieredStore  # noqa: E402
from ggcc.storage.uri import open_backend  # noqa: E402


class Counting:
    """Wraps a backend to count uploads (to show that nothing is re-sent)."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name = inner.name
        self.puts = 0

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        self.puts += len(items)
        self.inner.put_files(items)


def make_blobs(d: str, n: int, size: int) -> tuple[str, list[str], str]:
    files = os.path.join(d, "files")
    os.makedirs(files)
    store = LocalStore(os.path.join(d, "store"))
    ids = []
    for i in range(n):
        p = os.path.join(files, f"f{i:05d}")
        with open(p, "wb") as f:
            f.write(os.urandom(size))
        ids.append(store.put_file(p))
    return store.root, ids, files


def timed_push(root: str, uri: str, blob_ids: list[str]) -> tuple[float, int]:
    backend = Counting(open_backend(uri))
    tier = TieredStore(LocalStore(root), backend)  # type: ignore[arg-type]
    t = time.perf_counter()
    tier.push_blobs(blob_ids)
    return time.perf_counter() - t, backend.puts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blobs", type=int, default=1000)
    ap.add_argument("--size-kb", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3, help="runs for Redis (S3 runs once: moto is slow)")
    a = ap.parse_args()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        root, blob_ids, files = make_blobs(d, a.blobs, a.size_kb * 1024)
        first, again = [], []
        for run in range(a.runs):
            with redis_server(Path(d)) as r:
                t1, puts1 = timed_push(root, r.uri, blob_ids)
                t2, puts2 = timed_push(root, r.uri, blob_ids)
                assert puts1 == a.blobs and puts2 == 0, (puts1, puts2)
                first.append(t1)
                again.append(t2)
        out["redis_s"] = statistics.median(first)
        out["redis_again_s"] = statistics.median(again)
        print(f"{a.blobs} x {a.size_kb} KB blobs, medians of {a.runs}")
        print(f"  redis   upload {out['redis_s']:.3f} s (goal <= 0.3)   again {out['redis_again_s']:.3f} s, 0 re-sent (goal <= 0.2)")
        with s3_server("bench") as env:
            os.environ.update(env)
            t1, puts1 = timed_push(root, "s3://bench/ggcc?region=us-east-1", blob_ids)
            t2, puts2 = timed_push(root, "s3://bench/ggcc?region=us-east-1", blob_ids)
            assert puts1 == a.blobs and puts2 == 0
            out["s3_s"], out["s3_again_s"] = t1, t2
            aws = shutil.which("aws")
            if aws:
                t = time.perf_counter()
                subprocess.run([aws, "s3", "cp", "--recursive", "--quiet", files, "s3://bench/awscli/"], check=True, env=os.environ)
                out["awscli_s"] = time.perf_counter() - t
        print(f"  s3      upload {out['s3_s']:.2f} s   again {out['s3_again_s']:.2f} s, 0 re-sent")
        if "awscli_s" in out:
            out["s3_speedup_vs_awscli"] = out["awscli_s"] / out["s3_s"]
            print(f"  awscli  aws s3 cp --recursive {out['awscli_s']:.2f} s: ggcc {out['s3_speedup_vs_awscli']:.2f}x faster (goal >= 1.3x)")
        else:
            print("  awscli  not installed (pip install awscli): no comparison")
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
