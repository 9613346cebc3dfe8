"""The engine factory, its settings, and the one straggler rule, without a
farm or a Lambda function."""

from __future__ import annotations

from pathlib import Path

import pytest

from ggcc.base.errors import GgccError
from ggcc.engines import EngineSettings, make_engine
from ggcc.engines.local import LocalEngine
from ggcc.engines.stragglers import Stragglers
from ggcc.storage.local_store import LocalStore


def test_nothing_is_a_straggler_until_enough_answers_are_known() -> None:
    s = Stragglers(floor_s=10.0, warmup=10)
    for _ in range(9):
        s.answered(1.0)
        assert s.patience() is None
    s.answered(1.0)
    assert s.patience() == 10.0  # 4x the median is 4 s: the floor holds


def test_patience_is_four_times_the_median_of_recent_answers() -> None:
    s = Stragglers(floor_s=1.0, warmup=3, keep=5)
    for t in (2.0, 3.0, 100.0):
        s.answered(t)
    assert s.patience() == 12.0  # median 3 s, not pulled up by the one slow answer
    for t in (5.0, 5.0, 5.0, 5.0, 5.0):  # only the last five are kept
        s.answered(t)
    assert s.patience() == 20.0


def test_a_fixed_time_replaces_the_rule() -> None:
    s = Stragglers(floor_s=30.0, fixed_s=2.0)
    assert s.patience() == 2.0


def test_settings_come_from_the_environment_given() -> None:
    env = {"GGCC_ENGINE": "lambda", "GGCC_STORAGE": "s3://b/p", "GGCC_LAMBDA_FUNCTION": "f2",
           "GGCC_LAMBDA_CONCURRENCY": "7", "GGCC_WORKERS_STRAGGLER_S": "3", "GGCC_SANDBOX": "strict"}
    s = EngineSettings.from_env(env)
    assert (s.name, s.storage_uri, s.lambda_function, s.lambda_concurrency, s.workers_straggler_s, s.strict) == \
        ("lambda", "s3://b/p", "f2", 7, 3.0, True)
    assert EngineSettings.from_env(env, "local").name == "local"  # `ggcc force --engine local`
    plain = EngineSettings.from_env({})
    assert plain == EngineSettings() and plain.workers_straggler_s is None
    # Engines are kept per settings: two builds that differ get two engines.
    assert EngineSettings.from_env(env) != EngineSettings.from_env(dict(env, GGCC_LAMBDA_FUNCTION="f3"))
    assert EngineSettings.from_env({"GGCC_LAMBDA_BATCH": "many"}).lambda_batch == 4  # refused before a build


def test_the_factory_refuses_what_it_cannot_open_or_falls_back_when_told(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    e = make_engine(EngineSettings(), store, 1)
    assert isinstance(e, LocalEngine)
    e.shutdown()
    for name, needs in (("workers", "Redis"), ("lambda", "GGCC_STORAGE=s3://"), ("warp", "unknown engine")):
        with pytest.raises(GgccError, match=needs):
            make_engine(EngineSettings(name), store, 1)
        told: list[str] = []
        e = make_engine(EngineSettings(name), store, 1, on_error=told.append)
        assert isinstance(e, LocalEngine) and len(told) == 1 and needs in told[0]
        e.shutdown()
