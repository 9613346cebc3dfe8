"""`ggcc cache` (the local store: size, trim, verify, clear) and `ggcc stats`."""

from __future__ import annotations

import argparse
import json

from ggcc.base import config
from ggcc.storage import open_store, upkeep


# -- ggcc cache ---------------------------------------------------------------
def cmd_cache(a: argparse.Namespace) -> int:
    store = open_store(config.ggcc_dir()).local  # its size and upkeep: the local store's
    limit = config.parse_size(a.max_size) if getattr(a, "max_size", None) else config.max_size()
    if a.action == "stats":
        s = upkeep.usage(store)
        info = {
            "dir": store.root,
            "blobs": s.blobs,
            "blob_bytes": s.blob_bytes,
            "results": s.results,
            "result_bytes": s.result_bytes,
            "total_bytes": s.total_bytes,
            "max_bytes": limit,
        }
        if a.json:
            print(json.dumps(info, indent=2))
        else:
            print(f"store      {store.root}")
            print(f"blobs      {s.blobs} ({config.human_size(s.blob_bytes)})")
            print(f"results    {s.results} ({config.human_size(s.result_bytes)})")
            print(f"size       {config.human_size(s.total_bytes)} of {config.human_size(limit)} ({100 * s.total_bytes / max(limit, 1):.1f}%)")
    elif a.action == "trim":
        removed, freed = upkeep.trim(store, limit)
        print(f"removed {removed} files, freed {config.human_size(freed)}; limit {config.human_size(limit)}")
    elif a.action == "verify":
        checked, removed = upkeep.verify(store)
        print(f"checked {checked} files, removed {removed} bad ones")
        return 1 if removed else 0
    elif a.action == "clear":
        upkeep.clear(store)
        print(f"cleared {store.root}")
    return 0


def cmd_stats(a: argparse.Namespace) -> int:
    from ggcc.base import stats
    from ggcc.client import launch
    from ggcc.commands import stats_report

    root = config.ggcc_dir()
    # A running daemon files what it ran when it is quiet: the counters it
    # will add belong to the builds before (never starts one).
    launch.ask(root, [b"sync"])
    if a.zero:
        stats.zero(root)
        print("statistics zeroed")
        return 0
    s = stats_report.summary(root)
    print(stats_report.as_json(s) if a.json else stats_report.render(s))
    return 0
