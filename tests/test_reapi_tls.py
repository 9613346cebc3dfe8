"""An REAPI server as hosted services run them: TLS with a private CA,
clients' certificates required (mutual TLS) and a bearer token on every
call (BuildGrid's JWT authorization). ggcc reaches it from settings alone
and never lets the token out: not in messages, logs or statistics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from certs import Certs, make_certs
from debian_sources import copy_of, zlib_commands
from reapi_stack import Stack, buildgrid_cache

GGCC = [sys.executable, "-m", "ggcc"]
SIGNING_KEY = "a test signing key of at least 32 bytes, for HS256"


def _token() -> str:
    import jwt

    return str(jwt.encode({"sub": "ggcc-test", "exp": int(time.time()) + 3600}, SIGNING_KEY, algorithm="HS256"))


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Certs]]:
    d = tmp_path_factory.mktemp("hosted")
    certs = make_certs(d / "certs")
    secret = d / "jwt.secret"
    secret.write_text(SIGNING_KEY)
    with buildgrid_cache(d / "bg", certs=certs, jwt_secret=secret) as bg:
        yield bg, certs


def _settings(certs: Certs, token: str, ca: bool = True, client: bool = True) -> dict[str, str]:
    env = {"GGCC_REAPI_HEADERS": f"authorization=Bearer {token}"}
    if ca:
        env["GGCC_REAPI_TLS_CA"] = str(certs.ca)
    if client:
        env.update(GGCC_REAPI_TLS_CERT=str(certs.client_cert), GGCC_REAPI_TLS_KEY=str(certs.client_key))
    return env


def test_a_hosted_cache_from_settings_alone(hosted: tuple[Stack, Certs]) -> None:
    from ggcc.storage.backend import StorageError
    from ggcc.storage.uri import open_backend

    bg, certs = hosted
    token = _token()
    b = open_backend(bg.uri, _settings(certs, token))
    b.put_small("manifests/tls", b"over TLS")
    assert b.get_small("manifests/tls") == b"over TLS"
    # Each missing piece is refused by the server, and said without the token.
    for env, why in ((_settings(certs, token, ca=False), "UNAVAILABLE"),  # the system's CAs do not know ours
                     (_settings(certs, token, client=False), "UNAVAILABLE"),  # no client certificate
                     (_settings(certs, "not-a-token"), "UNAUTHENTICATED")):
        with pytest.raises(StorageError) as e:
            open_backend(bg.uri, env).get_small("manifests/tls")
        assert why in str(e.value) and token not in str(e.value) and "not-a-token" not in str(e.value)


def test_zlib_shared_through_a_hosted_cache(hosted: tuple[Stack, Certs], tmp_path: Path) -> None:
    import json

    bg, certs = hosted
    token = _token()
    tree = copy_of("zlib", tmp_path)
    cmds = zlib_commands(tree, "-O2")
    for machine, want_remote in (("first", 0), ("second", len(cmds))):
        env = dict(os.environ, GGCC_DIR=str(tmp_path / machine), GGCC_STORAGE=bg.uri, **_settings(certs, token))
        for argv, cwd in cmds:
            p = subprocess.run(GGCC + argv, cwd=cwd, env=env, capture_output=True)
            assert p.returncode == 0, p.stderr
            assert token.encode() not in p.stdout + p.stderr
        s = json.loads(subprocess.run(GGCC + ["stats", "--json"], env=env, capture_output=True, text=True,
                                      check=True).stdout)
        assert (s["remote_hits"], s["storage_fallbacks"], s["errors"]) == (want_remote, 0, 0), s
        shown = subprocess.run(GGCC + ["config"], env=env, capture_output=True, text=True, check=True).stdout
        assert token not in shown and "GGCC_REAPI_TLS_CA" in shown
        for root, _, files in os.walk(tmp_path / machine):  # logs, statistics, records
            for f in files:
                path = os.path.join(root, f)
                if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) < (16 << 20):
                    assert token.encode() not in Path(path).read_bytes(), path


def test_tls_settings_are_checked_before_a_build(tmp_path: Path) -> None:
    """Each wrong TLS setting is said in one line, and the compile runs
    without ggcc rather than fail (grpc aborts the process on a certificate
    without its key: that must never be reached)."""
    (tmp_path / "t.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    base = dict(os.environ, GGCC_DIR=str(tmp_path / "s"), GGCC_STORAGE="grpcs://127.0.0.1:1")
    for extra, said in (({"GGCC_REAPI_TLS_CA": str(tmp_path / "no-such.pem")}, "GGCC_REAPI_TLS_CA='"),
                        ({"GGCC_REAPI_TLS_CA": str(tmp_path / "garbage.pem")}, "not a PEM file"),
                        ({"GGCC_REAPI_TLS_CERT": str(tmp_path / "cert.pem")}, "GGCC_REAPI_TLS_KEY go together"),
                        ({"GGCC_REAPI_TLS_CA": str(tmp_path / "cert.pem"), "GGCC_STORAGE": "grpc://127.0.0.1:1"},
                         "write the address as grpcs://")):
        p = subprocess.run(GGCC + ["gcc", "-c", "t.c", "-o", "t.o"], cwd=tmp_path, env=dict(base, **extra),
                           capture_output=True, text=True)
        assert p.returncode == 0 and said in p.stderr and "ggcc is off" in p.stderr, (extra, p.stderr)
        assert "Traceback" not in p.stderr and (tmp_path / "t.o").exists()
        (tmp_path / "t.o").unlink()
    # A command that opens the store without the build's check: one line, no abort.
    p = subprocess.run(GGCC + ["doctor"], env=dict(base, GGCC_REAPI_TLS_CERT=str(tmp_path / "cert.pem")),
                       capture_output=True, text=True)
    assert p.returncode in (1, 2) and "GGCC_REAPI_TLS_KEY" in p.stderr + p.stdout and "Traceback" not in p.stderr


def test_the_engine_reaches_a_hosted_farm_from_the_same_settings(hosted: tuple[Stack, Certs], tmp_path: Path) -> None:
    from ggcc.base.errors import GgccError
    from ggcc.engines import EngineSettings, make_engine
    from ggcc.engines.reapi import ReapiEngine
    from ggcc.storage.local_store import LocalStore

    bg, certs = hosted
    token = _token()
    store = LocalStore(str(tmp_path / "s"))
    env = dict(GGCC_ENGINE="reapi", GGCC_REAPI=bg.uri, **_settings(certs, token))
    engine = make_engine(EngineSettings.from_env(env), store, 1)  # GetCapabilities over mutual TLS, with the token
    assert isinstance(engine, ReapiEngine)
    engine.shutdown()
    assert token not in repr(EngineSettings.from_env(env))
    with pytest.raises(GgccError) as e:
        make_engine(EngineSettings.from_env(dict(env, GGCC_REAPI_TLS_CA="")), store, 1)
    assert "UNAVAILABLE" in e.value.message and token not in e.value.message


_HELPER = """\
import json, sys
from pathlib import Path
here = Path(__file__).parent
request = json.load(sys.stdin)
calls = here / "calls"
calls.write_text(calls.read_text() + request["uri"] + "\\n" if calls.exists() else request["uri"] + "\\n")
n = len(calls.read_text().splitlines())
tokens = (here / "tokens").read_text().split()
answer = {"headers": {"Authorization": ["Bearer " + tokens[min(n, len(tokens)) - 1]]}}
expires = (here / "expires").read_text().strip() if (here / "expires").exists() else ""
if expires:
    answer["expires"] = expires
print(json.dumps(answer))
sys.exit(int((here / "exit").read_text()) if (here / "exit").exists() else 0)
"""


def _helper(tmp_path: Path, tokens: list[str]) -> tuple[str, Path]:
    d = tmp_path / "helper"
    d.mkdir()
    (d / "helper.py").write_text(_HELPER)
    (d / "tokens").write_text("\n".join(tokens))
    return f"{sys.executable} {d / 'helper.py'}", d


def test_a_credential_helper_gives_the_token_and_a_fresh_one_when_refused(hosted: tuple[Stack, Certs],
                                                                          tmp_path: Path) -> None:
    import jwt

    from ggcc.storage.backend import StorageError
    from ggcc.storage.uri import open_backend

    bg, certs = hosted
    expired = str(jwt.encode({"sub": "ggcc-test", "exp": int(time.time()) - 60}, SIGNING_KEY, algorithm="HS256"))
    good = _token()
    command, d = _helper(tmp_path, [expired, good])
    env = _settings(certs, "")
    del env["GGCC_REAPI_HEADERS"]
    env["GGCC_REAPI_CREDENTIAL_HELPER"] = command
    b = open_backend(bg.uri, env)
    b.put_small("manifests/helped", b"with a helper's token")  # the expired token refused, the helper asked again
    for _ in range(5):
        assert b.get_small("manifests/helped") == b"with a helper's token"
    calls = (d / "calls").read_text().splitlines()
    assert calls == [f"https://127.0.0.1:{bg.port}"] * 2  # kept after that: no call per request

    # A helper that fails: said without what it printed (the token).
    (d / "exit").write_text("3")
    (d / "calls").unlink()
    with pytest.raises(StorageError) as e:
        open_backend(bg.uri, env).get_small("manifests/helped")
    assert "GGCC_REAPI_CREDENTIAL_HELPER" in str(e.value) and "exited with 3" in str(e.value)
    assert good not in str(e.value) and expired not in str(e.value)


def test_a_helper_answer_is_parsed_and_kept_until_it_expires() -> None:
    from ggcc.base.errors import GgccError
    from ggcc.storage.reapi_credentials import CACHE_S, parse_answer

    now = 1_800_000_000.0
    headers, until = parse_answer(b'{"headers": {"X-Key": ["a", "b"], "Authorization": ["Bearer t"]}}', now, 100.0)
    assert headers == (("authorization", "Bearer t"), ("x-key", "a"), ("x-key", "b")) and until == 100.0 + CACHE_S
    _, until = parse_answer(b'{"headers": {}, "expires": "2027-01-15T08:00:30Z"}', now, 100.0)
    assert until == 100.0 + (1_800_000_030.0 - now - 30)  # asked again 30 s early
    for bad in (b"not json", b'{"headers": {"a": "not a list"}}', b'{"headers": [], "expires": 1}',
                b'{"headers": {}, "expires": "tomorrow"}'):
        with pytest.raises(GgccError) as e:
            parse_answer(bad, now, 100.0)
        assert "GGCC_REAPI_CREDENTIAL_HELPER" in e.value.message and "tomorrow" not in e.value.message
