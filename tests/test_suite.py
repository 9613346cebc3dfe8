"""The real-project suite (integration/run-suite) end to end: Debian
sources fetched, built plain and through ggcc in wait mode, deferred mode
and on the Lambda harness, compared byte for byte, the projects' own tests
run on the ggcc build. zlib in the default suite; lua5.4 (libtool, which
the jq test builds in deferred mode) with --long, as it takes 5-8 minutes. (`integration/run-suite`
with no argument runs all six projects; see docs/testing.md.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("project", ["zlib", pytest.param("lua5.4", marks=pytest.mark.long)])
def test_identical_in_every_mode_and_its_tests_pass(tmp_path: Path, project: str) -> None:
    report = tmp_path / "report.json"
    p = subprocess.run([sys.executable, str(ROOT / "integration" / "suite" / "run_suite.py"), project,
                        "--work", str(tmp_path / "work"), "--json", str(report), "--jobs", "2"],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout[-5000:] + p.stderr[-3000:]
    assert f"== {project}" in p.stdout  # the table
    results = json.loads(report.read_text())
    assert sorted(results) == [project]
    for project, modes in results.items():
        by_mode = {m["mode"]: m for m in modes}
        assert list(by_mode) == ["plain", "wait", "infer", "lambda"], project
        plain = by_mode.pop("plain")
        assert plain["binaries"] >= 40, (project, plain)
        for mode, r in by_mode.items():
            where = (project, mode)
            assert r["error"] == "" and r["different"] == [], where
            assert r["identical"] == plain["binaries"] == r["binaries"], where
            stats = r["stats"]
            assert stats["executed"] > 0.8 * plain["binaries"], (where, stats)
            assert "internal-error" not in stats["local_fallbacks"], (where, stats)
        assert by_mode["wait"]["tests"] == "passed", project
        verify = by_mode["wait"]["stats"]["scan_verify"]
        assert verify["checked"] >= 30 and verify["missing"] == 0, (project, verify)
        assert by_mode["lambda"]["stats"]["executed_by_engine"]["lambda"] > 0.8 * plain["binaries"], project
    # Nothing of the work directory is left: each project's trees are removed.
    assert list((tmp_path / "work").iterdir()) == []
