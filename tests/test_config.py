"""The config file and `ggcc config`: every setting written once, its
value and where it came from; a wrong line said aloud like a wrong
variable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import GGCC, ggcc_stats

from ggcc.base import config_file


def test_parse_reads_the_flat_toml_users_write() -> None:
    text = ('# ggcc\n\nmax_size = "20G"  # a comment\nGGCC_ENGINE = \'local\'\njobs = 8\nsandbox="strict"\n'
            'speculate = false\nscan_verify = true\nstorage = "redis://h:1/0"\nlambda_function = "a\\"b"\n')
    found, problems = config_file.parse(text)
    assert problems == []
    assert found == [(3, "GGCC_MAX_SIZE", "20G"), (4, "GGCC_ENGINE", "local"), (5, "GGCC_JOBS", "8"),
                     (6, "GGCC_SANDBOX", "strict"), (7, "GGCC_SPECULATE", "0"), (8, "GGCC_SCAN_VERIFY", "1"),
                     (9, "GGCC_STORAGE", "redis://h:1/0"), (10, "GGCC_LAMBDA_FUNCTION", 'a"b')]


@pytest.mark.parametrize("line, why", [
    ("[ggcc]", "tables are not read"),
    ("max_size 20G", "not `name = value`"),
    ("max_size = 20G", "'20G' is not a value; put text in quotes"),
    ('max_size = "20G', 'no closing "'),
    ('max_size = "20G" x', "something after the string"),
    ('storage = "a\\qb"', "an escape"),
])
def test_parse_names_the_line_and_what_to_write(line: str, why: str) -> None:
    found, problems = config_file.parse(f"jobs = 2\n{line}\n")
    assert found == [(1, "GGCC_JOBS", "2")]
    assert len(problems) == 1 and problems[0].startswith("line 2: ") and why in problems[0], problems


def _env(tmp_path: Path, text: str, **extra: str) -> dict[str, str]:
    (tmp_path / "config.toml").write_text(text)
    env = dict(os.environ, GGCC_CONFIG=str(tmp_path / "config.toml"), GGCC_DIR=str(tmp_path / "store"))
    for name in ("GGCC_MAX_SIZE", "GGCC_JOBS", "GGCC_ENGINE", "GGCC_DISABLE"):
        env.pop(name, None)
    return dict(env, **extra)


def test_a_value_from_the_file_overridden_by_the_environment_shown_with_its_source(tmp_path: Path) -> None:
    env = _env(tmp_path, 'max_size = "20G"\n\njobs = 3\nredis_password = "hunter2"\n', GGCC_JOBS="5")
    p = subprocess.run(GGCC + ["config", "--json"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    got = {s["name"]: s for s in json.loads(p.stdout)["settings"]}
    assert (got["GGCC_MAX_SIZE"]["value"], got["GGCC_MAX_SIZE"]["source"]) == ("20G", f"{tmp_path}/config.toml:1")
    assert (got["GGCC_JOBS"]["value"], got["GGCC_JOBS"]["source"]) == ("5", "environment")
    assert (got["GGCC_ENGINE"]["value"], got["GGCC_ENGINE"]["source"]) == ("local", "default")
    assert got["GGCC_JOBS"]["scope"] == "daemon" and got["GGCC_ENGINE"]["scope"] == "build"
    assert got["GGCC_REDIS_PASSWORD"]["value"] == "(set)" and "hunter2" not in p.stdout
    table = subprocess.run(GGCC + ["config"], capture_output=True, text=True, env=env).stdout
    assert f"({tmp_path}/config.toml:1)" in table and "hunter2" not in table
    one = subprocess.run(GGCC + ["config", "max_size"], capture_output=True, text=True, env=env)
    assert one.stdout == "20G\n"


def test_the_file_reaches_launchers_and_the_commands_they_run_under(tmp_path: Path) -> None:
    (tmp_path / "ok.c").write_text("int f(void) { return 1; }\n")
    (tmp_path / "Makefile").write_text("ok.o: ok.c\n\t$(CC) -c ok.c -o ok.o\n")
    env = _env(tmp_path, "jobs = 3\n")
    p = subprocess.run(GGCC + ["make", "CC=gcc"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "make -j5 " in p.stderr, p.stderr  # GGCC_JOBS + 2
    for disable, counted in (("true", 0), ("false", 1)):
        env = _env(tmp_path, f"disable = {disable}\n")
        p = subprocess.run(GGCC + ["gcc", "-c", "ok.c", "-o", "ok.o"], cwd=tmp_path, capture_output=True, text=True,
                           env=env)
        assert p.returncode == 0, p.stderr
        assert ggcc_stats(tmp_path / "store")["invocations"] == counted, disable


def test_a_wrong_line_is_said_once_and_the_build_completes(tmp_path: Path) -> None:
    (tmp_path / "ok.c").write_text("int f(void) { return 1; }\n")
    env = _env(tmp_path, 'engine = "bogus"\nstroage = "redis://x:1/0"\n')
    outs = []
    for _ in range(3):
        p = subprocess.run(GGCC + ["gcc", "-c", "ok.c", "-o", "ok.o"], cwd=tmp_path, capture_output=True, text=True,
                           env=env)
        assert p.returncode == 0 and (tmp_path / "ok.o").exists(), p.stderr
        outs.append(p.stderr)
    said = "".join(outs)
    assert said.count("engine='bogus': write one of") == 1, said
    assert said.count("'stroage' is not a setting (did you mean storage?)") == 1, said
    assert f"config file {tmp_path}/config.toml" in said
    assert ggcc_stats(tmp_path / "store")["local_fallbacks"] == {"bad-setting": 3}
    p = subprocess.run(GGCC + ["make", "ok.o"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "engine='bogus'" in p.stderr, p.stderr
    p = subprocess.run(GGCC + ["config"], capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "problem: config file" in p.stdout


def test_the_file_where_xdg_says_reaches_a_launcher(tmp_path: Path) -> None:
    (tmp_path / "ok.c").write_text("int f(void) { return 1; }\n")
    (tmp_path / "cfg" / "ggcc").mkdir(parents=True)
    env = _env(tmp_path, "", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    del env["GGCC_CONFIG"]
    for disable, counted in (("true", 0), ("false", 1)):
        (tmp_path / "cfg" / "ggcc" / "config.toml").write_text(f"disable = {disable}\n")
        p = subprocess.run(GGCC + ["gcc", "-c", "ok.c", "-o", "ok.o"], cwd=tmp_path, capture_output=True, text=True,
                           env=env)
        assert p.returncode == 0, p.stderr
        assert ggcc_stats(tmp_path / "store")["invocations"] == counted, disable
