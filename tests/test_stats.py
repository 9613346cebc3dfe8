"""The counters' catalogue (base/stats.py) and the summary built from it
(commands/stats_report.py), without a build."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ggcc.base import stats
from ggcc.base.stats import BY_WORD, Event
from ggcc.commands import stats_report


def test_every_event_has_its_own_word_and_a_meaning() -> None:
    words = [e.word for e in Event]
    assert len(words) == len(set(words)) == len(BY_WORD)
    for e in Event:
        assert re.fullmatch(r"[a-z][a-z-]*", e.word) and e.doc, e


def test_what_the_client_counts_without_importing_stats_is_in_the_catalogue() -> None:
    """The hot path writes its lines as bytes (it cannot afford the import):
    each word it writes must be one the summary knows."""
    src = (Path(stats.__file__).parent.parent / "client" / "launch.py").read_text()
    written = re.findall(r'_count\([^)]*b"([^"]*)"\)', src)
    assert written, "the client's own counting was not found"
    for lines in written:
        for line in lines.split("\\n"):
            if line:
                assert line.split(" ")[0] in BY_WORD, line


def test_recorded_events_sum_into_the_summary(tmp_path: Path) -> None:
    root = str(tmp_path)
    stats.record(root, Event.INVOCATION, Event.HIT, Event.DIRECT, Event.HIT_SHARED)
    stats.record(root, Event.INVOCATION, Event.EXECUTED, (Event.EXECUTED_BY, "workers"))
    stats.record(root, Event.INVOCATION, (Event.LOCAL, "configure-probe"))
    stats.record(root, Event.INVOCATION, (Event.LOCAL, "configure-probe"))
    stats.record(root, (Event.BYTES_UP, 1000), (Event.BYTES_UP, 24), (Event.WAIT_MS, 1500))
    stats.record(root, (Event.TRAVEL_HIT, "root"), (Event.ERROR, "storage: down\nand out"))
    with open(tmp_path / "stats.log", "a") as f:
        f.write("a-word-of-another-version 3\n")
    s = stats_report.summary(root)
    assert (s.invocations, s.cache_hits, s.direct_hits, s.executed) == (4, 1, 1, 1)
    assert (s.hits_by_tier.local_store, s.hits_by_tier.shared_store) == (0, 1)
    assert (s.executed_by_engine.local, s.executed_by_engine.workers) == (0, 1)
    assert s.local_fallbacks == {"configure-probe": 2}
    assert (s.bytes_uploaded, s.launcher_wait_s) == (1024, 1.5)
    assert s.travel.hits_from_other_root == 1
    assert s.error_kinds == {"storage: down and out": 1}  # one line per event, whatever the detail held
    text = stats_report.render(s)
    assert "cache hits       1 (1 without starting the compiler)" in text and "1.0 KiB uploaded" in text
    d = json.loads(stats_report.as_json(s))
    assert d["lambda"]["invocations"] == 0 and "lambda_" not in d
    assert d["executed_by_engine"] == {"local": 0, "workers": 1, "lambda": 0, "reapi": 0}
    assert stats_report.build_line(s) == ("ggcc: 4 steps: 1 cache hits (1 from another build root), 1 run, "
                                          "2 run without ggcc (2 configure-probe)")


def test_a_builds_events_go_to_its_own_log_too(tmp_path: Path) -> None:
    root = str(tmp_path)
    token = stats.build.set("b1")
    try:
        stats.record(root, Event.INVOCATION, Event.EXECUTED)
    finally:
        stats.build.reset(token)
    stats.record(root, Event.INVOCATION, Event.HIT)
    assert stats_report.summary(root).invocations == 2
    mine = stats_report.summary(root, "b1")
    assert (mine.invocations, mine.executed, mine.cache_hits) == (1, 1, 0)
    with pytest.raises(ValueError):
        stats.build_log(root, "../x")


def test_an_amount_that_is_not_a_number_is_not_summed(tmp_path: Path) -> None:
    (tmp_path / "stats.log").write_text("bytes-hashed 12\nbytes-hashed twelve\nbytes-hashed 30\n")
    assert stats_report.summary(str(tmp_path)).bytes_hashed == 42
