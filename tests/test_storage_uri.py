from __future__ import annotations

import pytest

from ggcc.base.errors import GgccError
from ggcc.storage import open_store
from ggcc.storage.tiered import TieredStore
from ggcc.storage.uri import open_backend


def test_redis_credentials_come_from_settings_and_are_never_described() -> None:
    b = open_backend("rediss://cache.example:6380/3", {"GGCC_REDIS_USERNAME": "user", "GGCC_REDIS_PASSWORD": "s3cr@t"})
    assert b.name == "redis"
    assert b.describe() == "rediss://cache.example:6380/3"
    kwargs = b.r.connection_pool.connection_kwargs  # type: ignore[attr-defined]
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("user", "s3cr@t", 3)


def test_s3_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    b = open_backend("s3://bucket/some/prefix?region=eu-west-1")
    assert b.describe() == "s3://bucket/some/prefix/"
    assert b.s3.meta.region_name == "eu-west-1"  # type: ignore[attr-defined]


def test_reapi_cache_uri_takes_instance_and_headers_from_settings() -> None:
    b = open_backend("grpcs://cache.example:443", {"GGCC_REAPI_INSTANCE": "main",
                                                   "GGCC_REAPI_HEADERS": "x-buildbuddy-api-key=s3cr3t"})
    assert b.name == "reapi"
    assert b.describe() == "grpcs://cache.example:443 (instance 'main')" and "s3cr3t" not in b.describe()
    conn = b.conn  # type: ignore[attr-defined]
    assert conn.instance == "main" and ("x-buildbuddy-api-key", "s3cr3t") in conn.metadata()


def test_default_and_file_uris_give_the_local_store(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("GGCC_STORAGE", raising=False)
    monkeypatch.delenv("GG_STORAGE_URI", raising=False)
    assert not isinstance(open_store(str(tmp_path)), TieredStore)
    monkeypatch.setenv("GG_STORAGE_URI", f"file://{tmp_path}/other")
    s = open_store(str(tmp_path))
    assert s.root == f"{tmp_path}/other" and not isinstance(s, TieredStore)
    monkeypatch.setenv("GGCC_STORAGE", "redis://127.0.0.1:1/0")
    assert isinstance(open_store(str(tmp_path)), TieredStore)


@pytest.mark.parametrize("uri", ["s3://a:b@bucket", "s3:///nobucket", "gs://bucket", "redis://h/x", "redis://:pw@h:1/0",
                                 "rediss://u:pw@h/0", "redis://h:0/0", "redis://h:70000/0", "redis://[::1:bad/0",
                                 "grpc://h", "grpc://h:0", "grpcs://key@h:443", "grpc://h:1/instance", "grpc://h:1?x=y"])
def test_bad_uris(uri: str) -> None:
    with pytest.raises(GgccError) as e:
        open_backend(uri)
    assert "pw" not in str(e.value)
