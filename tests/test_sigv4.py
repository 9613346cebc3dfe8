"""ggcc's SigV4 signer against botocore's: the same headers, byte for byte.

Nothing here can reach AWS, and the local Lambda endpoint does not check
signatures; botocore's SigV4Auth is the reference the real service
accepts, so every header ggcc sends must be what it would have sent.
"""

from __future__ import annotations

import datetime
import time

import pytest
from botocore import auth as botocore_auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ggcc.aws.sigv4 import Signer, host_header

WHEN = datetime.datetime(2026, 11, 22, 23, 59, 58, tzinfo=datetime.timezone.utc)


def _botocore(url: str, payload: bytes, creds: Credentials, region: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: WHEN.replace(tzinfo=None))
    req = AWSRequest(method="POST", url=url, data=payload,
                     headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"})
    SigV4Auth(creds, "lambda", region).add_auth(req)
    return dict(req.headers.items())


@pytest.mark.parametrize("endpoint,function,token,region", [
    ("https://lambda.us-east-1.amazonaws.com", "ggcc", None, "us-east-1"),
    ("https://lambda.eu-west-3.amazonaws.com:443", "arn:aws:lambda:eu-west-3:123456789012:function:ggcc", "FQoG/tok+en==", "eu-west-3"),
    ("http://127.0.0.1:45123/prefix/", "my-func_2", "session", "us-west-2"),
    ("http://LOCALHOST:80", "f", None, "ap-south-1"),
])
def test_same_headers_as_botocore(endpoint: str, function: str, token: str | None, region: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import quote, urlsplit

    parts = urlsplit(endpoint)
    path = f"{parts.path.rstrip('/')}/2015-03-31/functions/{quote(function, safe='')}/invocations"
    payload = b'{"storage": "s3://bucket/prefix", "jobs": [{"thunk": "T00"}]}'
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    theirs = _botocore(f"{parts.scheme}://{parts.netloc}{path}", payload, creds, region, monkeypatch)
    signer = Signer(region, "lambda")
    host = host_header(parts.scheme, parts.hostname or "", parts.port)
    mine = signer.headers("POST", host, path, payload,
                          {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"},
                          creds.access_key, creds.secret_key, token, WHEN.timestamp())
    assert mine.pop("Host") == host
    assert mine == theirs
    # The signing key is cached per day: a second request signs the same way.
    again = signer.headers("POST", host, path, payload,
                           {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"},
                           creds.access_key, creds.secret_key, token, WHEN.timestamp())
    again.pop("Host")
    assert again == theirs


def test_a_new_day_and_a_new_secret_sign_differently() -> None:
    signer = Signer("us-east-1", "lambda")
    def auth(secret: str, when: float) -> str:
        return signer.headers("POST", "h", "/p", b"x", {}, "AK", secret, None, when)["Authorization"]

    today, tomorrow, rotated = auth("secret-1", WHEN.timestamp()), auth("secret-1", WHEN.timestamp() + 5), auth("secret-2", WHEN.timestamp())
    assert "20261122/us-east-1/lambda" in today and "20261123/us-east-1/lambda" in tomorrow
    assert len({today, tomorrow, rotated}) == 3
    assert time.gmtime(WHEN.timestamp() + 5).tm_mday == 23
