"""`ggcc lambda`, `ggcc worker`, `ggcc workers`: where thunks run besides here."""

from __future__ import annotations

import argparse

from ggcc.base import config
from ggcc.base.errors import GgccError

DEFAULT_ROLE_NAME = "ggcc-lambda"


def cmd_lambda(a: argparse.Namespace) -> int:
    import json

    from ggcc.aws import deploy
    from ggcc.storage import storage_uri

    if a.action == "policy":
        print(json.dumps(deploy.policy_document(a.storage or storage_uri()), indent=2))
        return 0
    if a.action == "deploy":
        uri = a.storage or storage_uri()
        if a.create_role and not uri.startswith("s3://"):
            raise GgccError("ggcc lambda deploy --create-role: give --storage s3://bucket/prefix (or set GGCC_STORAGE), "
                            "so that the role can be limited to it")
        env = []
        for kv in a.env:
            k, eq, v = kv.partition("=")
            if not eq or not k:
                raise GgccError(f"--env {kv!r}: expected NAME=VALUE")
            env.append((k, v))
        settings = deploy.Settings(a.name, a.memory, a.timeout, a.tmp, a.role, tuple(env), a.region)
        deploy.deploy(settings, uri, a.create_role)
        return 0
    if a.action == "status":
        cfg = deploy.status(a.name, a.region)
        if a.json:
            print(json.dumps(cfg, indent=2, sort_keys=True, default=str))
            return 0
        print(f"{cfg.get('FunctionName')}: {cfg.get('State')}, last update {cfg.get('LastUpdateStatus')}, "
              f"{cfg.get('MemorySize')} MB, {cfg.get('Timeout')} s, {cfg.get('EphemeralStorage', {}).get('Size')} MB /tmp, "
              f"{(cfg.get('Architectures') or ['x86_64'])[0]}")
        print("code: this ggcc's" if cfg["CodeIsCurrent"] else "code: differs from this ggcc's: run `ggcc lambda deploy`")
        return 0
    deploy.remove(a.name, a.region, a.role)
    print(f"removed {a.name}")
    return 0


def cmd_worker(a: argparse.Namespace) -> int:
    from ggcc.storage import storage_uri
    from ggcc.workers.worker import main as worker_main

    return worker_main(a.storage or storage_uri(), config.ggcc_dir(), a.jobs or config.default_jobs(), a.strict, a.name)


def cmd_workers(a: argparse.Namespace) -> int:
    import json

    from ggcc.storage import storage_uri
    from ggcc.workers.queue import open_queue_at

    q, where = open_queue_at(a.storage or storage_uri(), 5, "ggcc workers")
    try:
        live = q.live_workers()
        backlog = q.backlog()
    except Exception as e:
        raise GgccError(f"{where}: {type(e).__name__}: {e}") from None
    if a.json:
        print(json.dumps({"workers": live, "backlog": backlog}, indent=2, sort_keys=True))
        return 0
    print(f"{len(live)} live workers on {where}, {backlog} thunks queued or running")
    for w in live:
        print(f"  {w.get('name')}: {w.get('running')}/{w.get('jobs')} running, {w.get('done')} done "
              f"(pid {w.get('pid')} on {w.get('host')})")
    return 0
