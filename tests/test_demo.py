"""`./run-demo` from a fresh checkout with an empty GGCC_DIR: it installs
ggcc, builds examples/project through it, and its report agrees with
`ggcc stats --json`; a second run skips pip and its first build comes
from the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_run_demo_from_a_fresh_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "ggcc"
    shutil.copytree(ROOT, checkout, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", ".mypy_cache", ".pytest_cache", "*.egg-info", "build"))
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GGCC_", "VIRTUAL_ENV"))}
    env.update(GGCC_DIR=str(store), GGCC_CONFIG=os.devnull, TMPDIR=str(tmp_path))
    p = subprocess.run(["./run-demo", "--json", "report.json"], cwd=checkout, env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "run-demo: installing ggcc into .venv" in p.stdout
    r = json.loads((checkout / "report.json").read_text())
    ggcc = str(checkout / ".venv" / "bin" / "ggcc")
    s = json.loads(subprocess.run([ggcc, "stats", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    builds = [r["configure"], r["first_build"], r["rebuild"]]
    assert sum(b["steps"] for b in builds) == s["invocations"], (r, s)
    assert sum(b["hits"] for b in builds) == s["cache_hits"] and sum(b["run"] for b in builds) == s["executed"]
    assert sum(b["without_ggcc"] for b in builds) == sum(s["local_fallbacks"].values())
    assert r["first_build"]["steps"] >= 54 and r["first_build"]["hits"] == 0  # 54 compiles, the archive, links
    assert r["rebuild"]["hits"] == r["rebuild"]["steps"] == r["first_build"]["steps"]
    assert r["identical_to_plain"] == r["outputs"] >= 54 and r["tests"] == "passed"
    assert f"{r['identical_to_plain']} of {r['outputs']} objects" in p.stdout and str(store) in p.stdout

    p = subprocess.run(["./run-demo", "--json", "again.json"], cwd=checkout, env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0 and "run-demo: ggcc in .venv is current" in p.stdout, p.stdout + p.stderr
    again = json.loads((checkout / "again.json").read_text())
    assert again["first_build"]["hits"] == again["first_build"]["steps"] == r["first_build"]["steps"], again
