"""The Lambda engine and function, through boto3's real clients against the
local harness (integration/lambda_harness.py): moto for S3, IAM and the
control plane, Invoke run under the official runtime interface client.
Thunks run in the strict sandbox inside the "function", so no toolchain
comes from the host."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from debian_sources import build_outputs, configure_libuv, copy_of, zlib_outputs, zlib_plain_and_ours
from helpers import GGCC, cmake_launcher_flags, ggcc_stats, stop_daemons
from servers import lambda_harness

from ggcc.aws import protocol
from ggcc.formats.result import OutputValue, Result

BUCKET = "ggcc-lambda-test"


@pytest.fixture(scope="module")
def harness() -> Iterator[dict[str, str]]:
    with lambda_harness(max_sandboxes=4, bucket=BUCKET) as env:
        yield env


def _deploy(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        GGCC + ["lambda", "deploy", "--create-role", "--storage", f"s3://{BUCKET}/x", "--timeout", "15",
                "--env", "GGCC_SANDBOX=strict", *extra],
        env=dict(os.environ, **env), capture_output=True, text=True)


@pytest.fixture(scope="module")
def deployed(harness: dict[str, str]) -> dict[str, str]:
    r = _deploy(harness)
    assert r.returncode == 0, r.stderr
    return harness


def _env(aws: dict[str, str], store: Path, **more: str) -> dict[str, str]:
    # A fresh prefix per test: nothing is a hit from another test's work.
    return dict(os.environ, **aws, GGCC_DIR=str(store), GGCC_ENGINE="lambda",
                GGCC_STORAGE=f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}", GGCC_LAMBDA_CONCURRENCY="4", **more)


def _harness_call(aws: dict[str, str], path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
    req = urllib.request.Request(aws["AWS_ENDPOINT_URL"] + path, data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        out: dict[str, Any] = json.loads(r.read())
        return out


def _build_zlib(tmp_path: Path, env: dict[str, str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    plain, ours = zlib_plain_and_ours(tmp_path)
    ggcc = " ".join(GGCC)
    make = ["make", "-j4", f"CC={ggcc} gcc", f"AR={ggcc} ar", f"RANLIB={ggcc} ranlib"]
    try:
        r = subprocess.run(make, cwd=ours, capture_output=True, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
    finally:
        stop_daemons(tmp_path)
    return zlib_outputs(plain), zlib_outputs(ours)


def test_deploy_is_idempotent_and_status_tells_whether_code_is_current(harness: dict[str, str]) -> None:
    env = dict(os.environ, **harness)
    first = _deploy(harness, "--name", "ggcc-deploy-test")
    assert first.returncode == 0 and "creating function ggcc-deploy-test" in first.stdout, first.stdout + first.stderr
    again = _deploy(harness, "--name", "ggcc-deploy-test")
    assert again.returncode == 0 and "updating" not in again.stdout and "is Active" in again.stdout, again.stdout
    changed = _deploy(harness, "--name", "ggcc-deploy-test", "--memory", "2048")
    assert "updating the configuration" in changed.stdout and "2048 MB" in changed.stdout, changed.stdout
    st = subprocess.run(GGCC + ["lambda", "status", "--name", "ggcc-deploy-test", "--json"], env=env,
                        capture_output=True, text=True, check=True)
    cfg = json.loads(st.stdout)
    assert cfg["CodeIsCurrent"] is True and cfg["Handler"] == "ggcc.aws.function.handler" and cfg["MemorySize"] == 2048
    assert cfg["Environment"]["Variables"] == {"GGCC_SANDBOX": "strict"}
    rm = subprocess.run(GGCC + ["lambda", "remove", "--name", "ggcc-deploy-test"], env=env, capture_output=True, text=True)
    assert rm.returncode == 0, rm.stderr
    gone = subprocess.run(GGCC + ["lambda", "status", "--name", "ggcc-deploy-test"], env=env, capture_output=True, text=True)
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "ggcc lambda deploy" in gone.stderr, gone.stderr


def test_policy_is_limited_to_the_storage_prefix() -> None:
    r = subprocess.run(GGCC + ["lambda", "policy", "--storage", "s3://my-bucket/builds"], capture_output=True, text=True, check=True)
    doc = json.loads(r.stdout)
    resources = [s["Resource"] for s in doc["Statement"]]
    assert "arn:aws:s3:::my-bucket/builds/*" in resources and "arn:aws:s3:::my-bucket" in resources
    assert all(a != "*" for s in doc["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))


def test_zlib_built_on_lambda_is_identical_through_throttles_a_killed_and_a_hung_invocation(
        deployed: dict[str, str], tmp_path: Path) -> None:
    _harness_call(deployed, "/_harness/faults", {"throttle": 6, "kill": [3], "hang": [7]})
    before = _harness_call(deployed, "/_harness/stats")
    store = tmp_path / "store"
    # No straggler duplicates: the hung invocation must be seen to time out.
    want, got = _build_zlib(tmp_path, _env(deployed, store, GGCC_LAMBDA_STRAGGLER_S="60"))
    assert len(want) >= 40 and sorted(n for n in want if got.get(n) != want[n]) == []
    after = _harness_call(deployed, "/_harness/stats")
    assert after["throttled"] - before["throttled"] >= 6
    assert after["killed"] - before["killed"] == 1
    assert after["timed_out"] - before["timed_out"] == 1
    s = ggcc_stats(store)
    # Every fault was retried on Lambda: nothing ran here.
    assert s["local_fallbacks"] == {} and s["engine_fallbacks"] == {}, s
    assert s["executed_by_engine"]["lambda"] == s["executed"] > 30, s
    lam = s["lambda"]
    assert lam["throttled"] >= 6 and lam["gb_seconds"] > 0, lam
    assert lam["function_errors"] == {"crashed": 1, "timeout": 1}, lam


def test_no_function_means_local_and_counted(harness: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "m.c").write_text("int f(int x) { return x * 3; }\n")
    store = tmp_path / "store"
    env = _env(harness, store, GGCC_LAMBDA_FUNCTION="not-deployed", GGCC_DAEMON="0")
    subprocess.run(GGCC + ["gcc", "-O2", "-c", "m.c", "-o", "m.o"], cwd=tmp_path, env=env, check=True)
    subprocess.run(["gcc", "-O2", "-c", "m.c", "-o", "p.o"], cwd=tmp_path, check=True)
    assert (tmp_path / "m.o").read_bytes() == (tmp_path / "p.o").read_bytes()
    s = ggcc_stats(store)
    assert s["engine_fallbacks"] == {"lambda-unavailable": 1} and s["local_fallbacks"] == {}, s
    assert s["executed"] == s["invocations"] == 1, s  # run here by ggcc: not "without ggcc"
    assert any("not-deployed" in k and "ggcc lambda deploy" in k for k in s["error_kinds"]), s


def test_inputs_gone_from_storage_are_uploaded_again(deployed: dict[str, str], tmp_path: Path) -> None:
    """The engine does not re-check blobs it saw in storage a moment ago; if
    the bucket is emptied meanwhile, the function says an input is missing
    and the thunk is retried after a full upload, on Lambda."""
    import boto3

    for name in ("a", "b"):
        (tmp_path / f"{name}.c").write_text(f"int {name}(int x) {{ return x + {len(name)}; }}\n")
    store = tmp_path / "store"
    env = _env(deployed, store)
    try:
        subprocess.run(GGCC + ["gcc", "-O2", "-c", "a.c"], cwd=tmp_path, env=env, check=True)
        s3 = boto3.client("s3", endpoint_url=deployed["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        prefix = env["GGCC_STORAGE"].split("/", 3)[3] + "/"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        assert len(keys) > 20  # the toolchain went up
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})
        _harness_call(deployed, "/_harness/faults", {"recycle": True})  # no warm /tmp holds the toolchain either
        subprocess.run(GGCC + ["gcc", "-O2", "-c", "b.c"], cwd=tmp_path, env=env, check=True)  # same daemon
    finally:
        stop_daemons(tmp_path)
    subprocess.run(["gcc", "-O2", "-c", "b.c", "-o", "plain-b.o"], cwd=tmp_path, check=True)
    assert (tmp_path / "b.o").read_bytes() == (tmp_path / "plain-b.o").read_bytes()
    s = ggcc_stats(store)
    assert s["local_fallbacks"] == {} and s["executed_by_engine"]["lambda"] == 2, s
    assert s["lambda"]["invocations"] == 3, s["lambda"]  # a, b refused for a missing input, b again


def test_megabytes_of_warnings_travel_through_storage(deployed: dict[str, str], tmp_path: Path) -> None:
    # ~8 MB of diagnostics: more than a Lambda answer may carry. (Few long
    # warnings: gcc's time grows faster than linearly with their number.)
    lines = "".join(f'#warning "{"w" * 4000} {i}"\n' for i in range(1000))
    (tmp_path / "w.c").write_text(lines + "int x;\n")
    store = tmp_path / "store"
    env = _env(deployed, store, GGCC_DAEMON="0")
    ours = subprocess.run(GGCC + ["gcc", "-c", "w.c", "-o", "w.o"], cwd=tmp_path, env=env, capture_output=True)
    plain = subprocess.run(["gcc", "-c", "w.c", "-o", "p.o"], cwd=tmp_path, capture_output=True)
    assert len(plain.stderr) > 6_500_000
    assert ours.returncode == plain.returncode == 0 and ours.stderr == plain.stderr
    assert (tmp_path / "w.o").read_bytes() == (tmp_path / "p.o").read_bytes()
    s = ggcc_stats(store)
    assert s["executed_by_engine"]["lambda"] == 1 and s["local_fallbacks"] == {}, s


def test_failed_compile_comes_back_as_the_compilers_own(deployed: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bad.c").write_text("int f(void) { return undefined_name; }\n")
    env = _env(deployed, tmp_path / "store", GGCC_DAEMON="0")
    ours = subprocess.run(GGCC + ["gcc", "-c", "bad.c", "-o", "bad.o"], cwd=tmp_path, env=env, capture_output=True)
    plain = subprocess.run(["gcc", "-c", "bad.c", "-o", "bad.o"], cwd=tmp_path, capture_output=True)
    assert plain.returncode == ours.returncode == 1 and ours.stderr == plain.stderr
    s = ggcc_stats(tmp_path / "store")
    # The function ran it and failed; the launcher reruns failures here so
    # that the diagnostics are the host compiler's own (launcher policy).
    assert s["lambda"]["invocations"] == 1 and s["local_fallbacks"] == {"compile-failed-rerun": 1}, s


# -- the protocol, pure ---------------------------------------------------------------
TID = "T" + "ab" * 32 + "00000010"
VID = "V" + "cd" * 32 + "00000020"


def test_request_never_carries_credentials() -> None:
    data = protocol.encode_request("redis://user:secret@cache.example:6380/2", [protocol.Job(TID, {})])
    assert b"secret" not in data and b"user" not in data
    uri, jobs = protocol.decode_request(json.loads(data))
    assert uri == "redis://cache.example:6380/2" and jobs == [protocol.Job(TID, {})]


@pytest.mark.parametrize("event", [
    {}, {"v": 1}, {"v": 1, "storage": "s3://b", "thunks": []},
    {"v": 1, "storage": "s3://b", "thunks": [{"id": "T../../etc"}]},
    {"v": 1, "storage": "s3://b", "thunks": [{"id": VID}]},
    {"v": 1, "storage": "s3://b", "thunks": [{"id": TID, "resolved": {TID: "/etc/passwd"}}]},
])
def test_malformed_requests_are_refused(event: dict[str, object]) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_request(event)


def test_answer_must_match_what_was_asked() -> None:
    r = Result(TID, 0, (OutputValue("o", VID),), b"out", b"err")
    data = protocol.encode_answer([r.to_json()], 12.5, True)
    ans = protocol.decode_answer(data, [TID])
    assert ans.results == [r] and ans.cold and ans.duration_ms == 12.5
    other = "T" + "ef" * 32 + "00000010"
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_answer(data, [other])
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_answer(data, [TID, TID])
    stored = protocol.decode_answer(protocol.encode_answer([protocol.stored_part(VID)], 1.0, False), [TID])
    assert stored.results == [VID]


@pytest.mark.long
def test_libuv_built_on_lambda_is_identical_with_a_straggler_sent_twice(harness: dict[str, str], tmp_path: Path) -> None:
    """libuv (CMake + Ninja, compiler and linker launchers) on a function
    with a long timeout; one invocation hangs and is sent again after
    GGCC_LAMBDA_STRAGGLER_S, and the build neither waits for it nor differs."""
    r = _deploy(harness, "--name", "ggcc-long", "--timeout", "120")
    assert r.returncode == 0, r.stderr
    store = tmp_path / "store"
    tree = copy_of("libuv1", tmp_path)
    build = tree / "build"
    outputs = {}
    for kind in ("plain", "ours"):
        env = _env(harness, store, GGCC_LAMBDA_FUNCTION="ggcc-long", GGCC_LAMBDA_STRAGGLER_S="5") if kind == "ours" \
            else dict(os.environ)
        configure_libuv(build, cmake_launcher_flags() if kind == "ours" else [], env)
        if kind == "ours":
            _harness_call(harness, "/_harness/faults", {"hang": [60]})
        try:
            subprocess.run(["ninja", "-j8"], cwd=build, check=True, capture_output=True, env=env)
        finally:
            stop_daemons(tmp_path)
        outputs[kind] = build_outputs(build)
    want, got = outputs["plain"], outputs["ours"]
    assert len(want) > 400 and sorted(want) == sorted(got)
    assert sorted(n for n in want if got[n] != want[n]) == []
    s = ggcc_stats(store)
    assert s["executed_by_engine"]["lambda"] > 400 and s["local_fallbacks"] == {}, s
    assert s["lambda"]["duplicates"] >= 1, s["lambda"]


def test_a_function_that_cannot_start_is_found_out_fast(harness: dict[str, str], tmp_path: Path) -> None:
    """Its handler does not import (as a runtime that cannot start, it
    fails whatever the thunk): the breaker opens at the first answer, the
    build goes on here at once, and the reason is said once."""
    import time

    import boto3

    r = _deploy(harness, "--name", "ggcc-broken")
    assert r.returncode == 0, r.stderr
    aws = dict(os.environ, **harness)
    lam = boto3.client("lambda", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_DEFAULT_REGION"],
                       aws_access_key_id=aws["AWS_ACCESS_KEY_ID"], aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"])
    lam.update_function_configuration(FunctionName="ggcc-broken", Handler="no_such_module.handler")
    d = tmp_path / "p"
    d.mkdir()
    for i in range(12):
        (d / f"f{i}.c").write_text(f"int f{i}(int x) {{ return x * {i}; }}\n")
    (d / "Makefile").write_text("all: $(patsubst %.c,%.o,$(wildcard *.c))\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n")
    env = _env(harness, tmp_path / "store", GGCC_LAMBDA_FUNCTION="ggcc-broken")
    t0 = time.monotonic()
    p = subprocess.run(["make", "-s", "-j4", f"CC={' '.join(GGCC)} gcc"], cwd=d, env=env, capture_output=True, text=True,
                       timeout=600)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    for f in d.glob("*.c"):
        subprocess.run(["gcc", "-O2", "-c", f.name, "-o", "want.o"], cwd=d, check=True)
        assert (d / f"{f.stem}.o").read_bytes() == (d / "want.o").read_bytes()
    said = [line for line in p.stderr.splitlines() if "cannot run" in line]
    assert len(said) == 1 and "ggcc-broken" in said[0] and "Runtime.ImportModuleError" in said[0], p.stderr
    s = ggcc_stats(tmp_path / "store")
    assert took < 60, (took, s)
    assert s["lambda"]["invocations"] <= 4, s  # the ones in flight when the first answer came; no retries
    assert s["executed"] == 12 and s["local_fallbacks"] == {}, s
    assert sum(s["engine_fallbacks"].values()) == 12, s
    assert took < 60, (took, s)


@pytest.mark.parametrize("etype, kind", [
    ("Runtime.InitTimeout", "broken"), ("Runtime.InitError", "broken"), ("Runtime.ImportModuleError", "broken"),
    ("Runtime.HandlerNotFound", "broken"), ("Sandbox.Timedout", "timeout"), ("Runtime.ExitError", "crashed"),
    ("Runtime.OutOfMemory", "out-of-memory"), ("ValueError", "error"),
])
def test_function_errors_that_mean_the_function_cannot_run(etype: str, kind: str) -> None:
    from ggcc.aws.control import function_error

    message = {"Sandbox.Timedout": "Task timed out after 15.00 seconds", "Runtime.ExitError": "Runtime exited"}.get(etype, "x")
    assert function_error(json.dumps({"errorType": etype, "errorMessage": message}).encode())[0] == kind


def test_the_breaker_lets_one_probe_through_after_its_spell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from ggcc.engines import aws_lambda
    from ggcc.engines.local import LocalEngine
    from ggcc.storage.local_store import LocalStore
    from ggcc.storage.tiered import TieredStore

    monkeypatch.setattr(aws_lambda, "BREAK_FIRST_S", 0.2)
    said: list[str] = []
    store = TieredStore(LocalStore(str(tmp_path)), object())  # type: ignore[arg-type]  # never reached here
    engine = aws_lambda.LambdaEngine(store, LocalEngine(store, 1), "s3://b/x", "f", control_client=lambda: None,
                                     invoker_factory=lambda t: None, say=said.append)  # type: ignore[arg-type,return-value]
    try:
        assert engine._may_send()
        engine._trip("Runtime.InitTimeout: x")
        engine._trip("Runtime.InitTimeout: x")  # in-flight invocations fail too: said once, spell doubled
        assert len(said) == 1 and "'f' cannot run (Runtime.InitTimeout: x)" in said[0]
        assert not engine._may_send()
        time.sleep(0.5)
        assert engine._may_send() and not engine._may_send()  # one probe; the others still run here
        engine._healed()
        assert engine._may_send() and engine._may_send()
    finally:
        engine.shutdown()
