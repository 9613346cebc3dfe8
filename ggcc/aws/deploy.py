"""`ggcc lambda deploy|status|remove|policy`: the function's life, through boto3.

Region, endpoint and credentials come from boto3's chain (AWS_REGION,
AWS_PROFILE, AWS_ENDPOINT_URL...), as everywhere in ggcc. Deploy is
idempotent: it creates the function, or updates its code only when the
zip's hash differs and its configuration only when a setting does, then
waits until the function is Active and its last update Successful.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from typing import Any

from ggcc.aws.package import HANDLER, build_zip, code_sha256
from ggcc.base.errors import GgccError

DEFAULT_ROLE = "ggcc-lambda"
RUNTIME = "python3.12"
_WAIT_S = 180.0


@dataclass(frozen=True)
class Settings:
    name: str = "ggcc"
    memory_mb: int = 3008  # Lambda gives CPU in proportion: ~2 vCPUs here
    timeout_s: int = 300
    tmp_mb: int = 4096  # ephemeral /tmp: toolchains and the blob cache
    role: str = ""  # an ARN; empty: the role DEFAULT_ROLE, created if asked
    env: tuple[tuple[str, str], ...] = ()
    region: str | None = None

    def architecture(self) -> str:
        m = platform.machine().lower()
        return "arm64" if m in ("aarch64", "arm64") else "x86_64"


def _clients(region: str | None) -> tuple[Any, Any]:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.session.Session(region_name=region)
        return session.client("lambda"), session.client("iam")
    except BotoCoreError as e:  # no region, a broken profile: say so, no traceback
        hint = " (set AWS_REGION or give --region)" if "region" in str(e).lower() else ""
        raise GgccError(f"AWS: {e}{hint}") from None


def _code(e: BaseException) -> str:
    resp = getattr(e, "response", None)
    return str(resp.get("Error", {}).get("Code", "")) if isinstance(resp, dict) else ""


def _say(e: BaseException) -> str:
    resp = getattr(e, "response", None)
    if isinstance(resp, dict):
        err = resp.get("Error", {})
        return f"{err.get('Code', '')}: {err.get('Message', '')}"
    return f"{type(e).__name__}: {e}"


def policy_document(storage_uri: str) -> dict[str, Any]:
    """The least the function needs: its storage prefix, and its logs."""
    from ggcc.base.storage_uri import parse

    spec = parse(storage_uri) if storage_uri else None  # refuses credentials in it: they would be in the ARN
    statements: list[dict[str, Any]] = [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/*",
    }]
    if spec is not None and spec.scheme == "s3":
        prefix = spec.path
        objects = f"arn:aws:s3:::{spec.host}/{prefix + '/' if prefix else ''}*"
        statements.append({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": objects})
        # HEAD of a missing key answers 404 (not 403) only with ListBucket.
        listing: dict[str, Any] = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{spec.host}"}
        if prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
        statements.append(listing)
    return {"Version": "2012-10-17", "Statement": statements}


TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def ensure_role(iam: Any, storage_uri: str, name: str = DEFAULT_ROLE) -> str:
    """Create (or update) the role DEFAULT_ROLE with the minimal policy; its ARN."""
    try:
        arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except Exception as e:
        if _code(e) != "NoSuchEntity":
            raise GgccError(f"IAM role {name!r}: {_say(e)}") from None
        try:
            arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST),
                                      Description="ggcc's Lambda function: its storage prefix and its logs")["Role"]["Arn"])
        except Exception as e2:
            raise GgccError(f"cannot create IAM role {name!r}: {_say(e2)}") from None
    try:
        iam.put_role_policy(RoleName=name, PolicyName="ggcc-storage-and-logs",
                            PolicyDocument=json.dumps(policy_document(storage_uri)))
    except Exception as e:
        raise GgccError(f"cannot set the policy of IAM role {name!r}: {_say(e)}") from None
    return arn


def deploy(s: Settings, storage_uri: str, create_role: bool, say: Any = print) -> dict[str, Any]:
    """Create or update the function and wait until it can be invoked."""
    if storage_uri:
        from ggcc.base.storage_uri import parse

        parse(storage_uri)  # a wrong one (credentials in it) stops here, before anything is made
    lam, iam = _clients(s.region)
    zipped = build_zip()
    sha = code_sha256(zipped)
    role = s.role
    if not role:
        if create_role:
            role = ensure_role(iam, storage_uri)
            say(f"role {role}")
        else:
            try:
                role = str(iam.get_role(RoleName=DEFAULT_ROLE)["Role"]["Arn"])
            except Exception as e:
                raise GgccError(f"no role for the function: give --role ARN, or --create-role to create {DEFAULT_ROLE!r} "
                                f"({_say(e)})") from None
    config: dict[str, Any] = {
        "Role": role,
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "MemorySize": s.memory_mb,
        "Timeout": s.timeout_s,
        "EphemeralStorage": {"Size": s.tmp_mb},
        "Environment": {"Variables": dict(s.env)},
        "Description": "ggcc: runs build thunks",
    }
    try:
        current = lam.get_function(FunctionName=s.name)["Configuration"]
    except Exception as e:
        if _code(e) != "ResourceNotFoundException":
            raise GgccError(f"Lambda function {s.name!r}: {_say(e)}") from None
        current = None
    if current is None:
        say(f"creating function {s.name} ({len(zipped) / 1024:.0f} KB zip)")
        _retrying(lambda: lam.create_function(FunctionName=s.name, Code={"ZipFile": zipped},
                                                Architectures=[s.architecture()], Publish=False, **config), s.name)
    else:
        if current.get("CodeSha256") != sha:
            say(f"updating the code of {s.name}")
            _retrying(lambda: lam.update_function_code(FunctionName=s.name, ZipFile=zipped), s.name)
            _wait(lam, s.name)
        if _differs(current, config):
            say(f"updating the configuration of {s.name}")
            _retrying(lambda: lam.update_function_configuration(FunctionName=s.name, **config), s.name)
    final = _wait(lam, s.name)
    say(f"function {s.name} is {final.get('State')} ({final.get('MemorySize')} MB, {final.get('Timeout')} s, "
        f"{final.get('EphemeralStorage', {}).get('Size')} MB /tmp)")
    return final


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for k, v in wanted.items():
        have = current.get(k)
        if k == "Environment":
            have = {"Variables": (have or {}).get("Variables", {})}
        if k == "Description":
            continue
        if have != v:
            return True
    return False


def _retrying(fn: Any, name: str) -> Any:
    """Call, waiting out what passes: an update already in progress
    (ResourceConflict), a new role not yet assumable by Lambda."""
    deadline = time.monotonic() + _WAIT_S
    while True:
        try:
            return fn()
        except Exception as e:
            msg, code = _say(e), _code(e)
            passing = code == "ResourceConflictException" or (code == "InvalidParameterValueException" and "assume" in msg)
            if passing and time.monotonic() < deadline:
                time.sleep(1)
                continue
            raise GgccError(f"Lambda function {name!r}: {msg}") from None


def _wait(lam: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + _WAIT_S
    while True:
        cfg: dict[str, Any] = lam.get_function_configuration(FunctionName=name)
        state, update = cfg.get("State", "Active"), cfg.get("LastUpdateStatus", "Successful")
        if state == "Failed" or update == "Failed":
            raise GgccError(f"Lambda function {name!r} failed: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
        if state == "Active" and update in ("Successful", None):
            return cfg
        if time.monotonic() > deadline:
            raise GgccError(f"Lambda function {name!r} is still {state}/{update} after {_WAIT_S:.0f} s")
        time.sleep(1)


def status(name: str, region: str | None) -> dict[str, Any]:
    lam, _ = _clients(region)
    try:
        cfg: dict[str, Any] = lam.get_function_configuration(FunctionName=name)
    except Exception as e:
        if _code(e) == "ResourceNotFoundException":
            raise GgccError(f"Lambda function {name!r} does not exist: run `ggcc lambda deploy`") from None
        raise GgccError(f"Lambda function {name!r}: {_say(e)}") from None
    cfg = {k: v for k, v in cfg.items() if k != "ResponseMetadata"}
    cfg["CodeIsCurrent"] = cfg.get("CodeSha256") == code_sha256(build_zip())
    return cfg


def remove(name: str, region: str | None, with_role: bool) -> None:
    lam, iam = _clients(region)
    try:
        lam.delete_function(FunctionName=name)
    except Exception as e:
        if _code(e) != "ResourceNotFoundException":
            raise GgccError(f"Lambda function {name!r}: {_say(e)}") from None
    if with_role:
        try:
            iam.delete_role_policy(RoleName=DEFAULT_ROLE, PolicyName="ggcc-storage-and-logs")
            iam.delete_role(RoleName=DEFAULT_ROLE)
        except Exception as e:
            if _code(e) != "NoSuchEntity":
                raise GgccError(f"IAM role {DEFAULT_ROLE!r}: {_say(e)}") from None
