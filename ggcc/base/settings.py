"""Every setting ggcc reads from the environment, in one table, and what
makes a value wrong.

A wrong value is never guessed at and never silent: a compile that carries
one runs the real compiler, counted as ``bad-setting``, and its launcher
says the problem on stderr, once per build (notice.py); `ggcc make`,
`ggcc ninja`, `ggcc cmake` and `ggcc infer` refuse to start with it.
Checking is pure: no file is read and nothing is connected to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ggcc.base.errors import GgccError

ENGINES = ("local", "workers", "lambda", "reapi")  # GGCC_ENGINE's values (engines/__init__.py makes each)
Check = Callable[[str], str]  # a value -> "" if fine, else what is wrong and what to write


# Where a setting's value is read (one rule per setting, shown by `ggcc config`):
BUILD = "build"  # from each compile's environment: two builds may differ
DAEMON = "daemon"  # when the daemon starts: `ggcc daemon stop` to change it
COMMAND = "command"  # by ggcc's commands (ggcc make, ggcc worker, ggcc lambda)
FUNCTION = "function"  # inside the Lambda function (`ggcc lambda deploy --env`)
INTERNAL = "internal"  # set by ggcc for its own children; never written by hand


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # as shown to users; "" for none
    doc: str
    check: Check
    scope: str = BUILD
    secret: bool = False  # never shown


def _choice(*allowed: str) -> Check:
    def check(v: str) -> str:
        return "" if v in allowed else "write one of " + ", ".join(repr(a) for a in allowed)
    return check


def _number(kind: type, low: float, example: str) -> Check:
    def check(v: str) -> str:
        try:
            n = kind(v)
        except ValueError:
            return f"not a {'whole ' if kind is int else ''}number; write e.g. {example}"
        return "" if n >= low else f"must be at least {low:g}; write e.g. {example}"
    return check


def _refusal(parse: Callable[[str], object], v: str) -> str:
    """What ``parse`` says is wrong with ``v`` ("" if it takes it)."""
    try:
        parse(v)
    except GgccError as e:
        return e.message
    return ""


def _size(v: str) -> str:
    from ggcc.base.config import parse_size

    return _refusal(parse_size, v)


def _storage(v: str) -> str:
    from ggcc.base.storage_uri import parse

    return _refusal(parse, v)


def _not_empty_name(v: str) -> str:
    return "" if v.strip() and "/" not in v else "write the function's name, e.g. ggcc"


def _reapi(v: str) -> str:
    from ggcc.base.reapi_uri import parse_target

    return _refusal(parse_target, v)


def _headers(v: str) -> str:
    from ggcc.base.reapi_uri import parse_headers

    _, bad = parse_headers(v)
    return "write name=value pairs separated by ';', e.g. authorization=Bearer TOKEN" if bad else ""


def _command(v: str) -> str:
    import shlex
    import shutil

    try:
        argv = shlex.split(v)
    except ValueError:
        return "not a command line (an unclosed quote?)"
    return "" if argv and shutil.which(argv[0]) else "no such program: give a command on PATH or its path"


def _pem_file(v: str) -> str:
    try:
        with open(v, "rb") as f:
            pem = b"-----BEGIN " in f.read(1 << 20)
    except OSError:
        return "no such readable file: give the path of a PEM file"
    return "" if pem else "not a PEM file (no -----BEGIN line): give the path of a PEM file"


def _anything(v: str) -> str:
    return ""


_BOOL = _choice("0", "1")


def _absolute(v: str) -> str:
    return "" if v.startswith("/") else "write an absolute path, e.g. $HOME/src/project (or / to turn it off)"

SETTINGS: tuple[Setting, ...] = (
    Setting("GGCC_DIR", "~/.cache/ggcc", "the local store, the daemon's socket and log, the statistics", _anything),
    Setting("GGCC_MAX_SIZE", "5G", "the local store's size limit (K, M, G, T)", _size, scope=DAEMON),
    Setting("GGCC_STORAGE", "", "a shared store behind the local one: s3://bucket/prefix?region=R, redis://host:port/db, "
            "rediss://..., or an REAPI cache at grpc://host:port, grpcs://...", _storage),
    Setting("GG_STORAGE_URI", "", "gg's name for GGCC_STORAGE (GGCC_STORAGE wins)", _storage),
    Setting("GGCC_REDIS_USERNAME", "", "the Redis user of a redis:// store", _anything),
    Setting("GGCC_REDIS_PASSWORD", "", "the Redis password of a redis:// store", _anything, secret=True),
    Setting("GGCC_ENGINE", "local", "where thunks run: local, workers (`ggcc worker`s on the Redis of GGCC_STORAGE) "
            "lambda (the AWS Lambda function, with an s3:// GGCC_STORAGE) or reapi (a Remote Execution API farm "
            "at GGCC_REAPI)", _choice(*ENGINES)),
    Setting("GGCC_REAPI", "", "the Remote Execution API server: grpc://host:port, or grpcs:// for TLS "
            "(docs/reapi.md)", _reapi),
    Setting("GGCC_REAPI_JOBS", "64", "(ggcc ninja, ggcc make) steps at once with GGCC_ENGINE=reapi: the farm's "
            "slots", _number(int, 1, "64")),
    Setting("GGCC_REAPI_INSTANCE", "", "the REAPI instance name the farm (GGCC_REAPI) and the grpc:// GGCC_STORAGE serve", _anything),
    Setting("GGCC_REAPI_HEADERS", "", "headers for every REAPI call (engine and grpc:// storage), name=value;name=value (e.g. "
            "authorization=Bearer TOKEN, or x-buildbuddy-api-key=KEY)", _headers, secret=True),
    Setting("GGCC_REAPI_CREDENTIAL_HELPER", "", "a command that prints headers for REAPI calls, as Bazel's "
            "--credential_helper (e.g. engflow_auth); its answer is kept until it expires", _command),
    Setting("GGCC_REAPI_PLATFORM", "", "platform properties of every Action, name=value;name=value (e.g. "
            "OSFamily=linux;ISA=x86-64), for farms that route by them", _headers),
    Setting("GGCC_REAPI_TLS_CA", "", "grpcs://: a PEM file of the certificate authorities to trust (default: "
            "the system's)", _pem_file),
    Setting("GGCC_REAPI_TLS_CERT", "", "grpcs:// with mutual TLS: this client's certificate (PEM), with "
            "GGCC_REAPI_TLS_KEY", _pem_file),
    Setting("GGCC_REAPI_TLS_KEY", "", "grpcs:// with mutual TLS: this client's private key (PEM)", _pem_file),
    Setting("GGCC_JOBS", "the cores", "compilers ggcc runs at once on this machine", _number(int, 1, "8"), scope=DAEMON),
    Setting("GGCC_BASEDIR", "detected", "the root a step's paths are keyed relative to, so a checkout at another path "
            "gets hits (docs/sharing.md); default: the deepest directory holding the step's own files; / turns it off",
            _absolute),
    Setting("GGCC_LOCAL_RUN", "in-place", "how the local engine runs a miss: in-place (the compiler in the build tree, "
            "its depfile naming the inputs, as ccache's depend mode; docs/in-place.md) or sandbox (a tree of exactly "
            "the inputs the header scan found, as remote engines run it)", _choice("", "in-place", "sandbox")),
    Setting("GGCC_SANDBOX", "", "strict: every thunk in bubblewrap with only its inputs", _choice("", "strict")),
    Setting("GGCC_DAEMON", "1", "0: no daemon, each launcher does the work itself (slower; for debugging)", _BOOL),
    Setting("GGCC_NATIVE", "1", "0: compiles go through the Python launcher, not the native client (ggcc-client)", _BOOL),
    Setting("GGCC_DAEMON_IDLE", "600", "seconds the daemon waits for work before it exits", _number(float, 0, "600"), scope=DAEMON),
    Setting("GGCC_DISABLE", "0", "1: ggcc steps aside, every command runs as without it", _BOOL),
    Setting("GGCC_DEBUG", "0", "1: a ggcc command that fails on something unexpected shows the traceback", _BOOL, scope=COMMAND),
    Setting("GGCC_SPECULATE", "1", "0: no compiling on save for this compile", _BOOL),
    Setting("GGCC_SCAN", "own", "how headers are found: own (ggcc's preprocessor scan) or compiler (the compiler's -M)",
            _choice("", "own", "compiler")),
    Setting("GGCC_SCAN_VERIFY", "0", "1: also run the compiler's -M and count every difference", _BOOL),
    Setting("GGCC_WORKERS_TIMEOUT", "600", "seconds to wait for a farm's answer before running here", _number(float, 1, "600")),
    Setting("GGCC_WORKERS_STRAGGLER_S", "4x the median", "seconds after which a farm's thunk is sent a second time",
            _number(float, 0.1, "30")),
    Setting("GGCC_INFER_REPORT", "", "(set by ggcc infer) the files its stdout and stderr go to, as device:inode", _anything, scope=INTERNAL),
    Setting("GGCC_WORKER_CLAIM_S", "60", "(a worker's) seconds before a worker takes over a dead worker's thunk",
            _number(float, 1, "60"), scope=COMMAND),
    Setting("GGCC_DEBUG_FAILURES", "0", "1: keep the tail of a failed sandboxed run's stderr in `ggcc stats`' errors",
            _BOOL, scope=DAEMON),
    Setting("GGCC_LAMBDA_FUNCTION", "ggcc", "the Lambda function's name", _not_empty_name),
    Setting("GGCC_LAMBDA_REGION", "boto3's", "the Lambda function's region", _anything),
    Setting("GGCC_LAMBDA_CONCURRENCY", "1000", "Lambda invocations at once", _number(int, 1, "1000")),
    Setting("GGCC_LAMBDA_BATCH", "4", "thunks per invocation when every slot is busy", _number(int, 1, "4")),
    Setting("GGCC_LAMBDA_RETRIES", "2", "tries again after a function error", _number(int, 0, "2")),
    Setting("GGCC_LAMBDA_CACHE_MB", "70% of /tmp", "(inside the function) the blob cache's size", _number(int, 1, "2048"), scope=FUNCTION),
    Setting("GGCC_LAMBDA_CACHE_DIR", "/tmp/ggcc", "(inside the function) where its blob cache lives", _anything, scope=FUNCTION),
    Setting("GGCC_LAMBDA_STRAGGLER_S", "10", "the least seconds before a slow invocation is sent twice",
            _number(float, 0.1, "10")),
    Setting("GGCC_CONFIG", "~/.config/ggcc/config.toml", "the config file (config_file.py): `name = value` lines",
            _anything),
    Setting("GGCC_FROM_NATIVE", "", "(set by ggcc) the native client handed this compile to Python", _anything,
            scope=INTERNAL),
    Setting("GGCC_CONFIG_SET", "", "(set by ggcc) the settings the config file gave", _anything, scope=INTERNAL),
    Setting("GGCC_CONFIG_ERROR", "", "(set by ggcc) what in the config file could not be read", _anything,
            scope=INTERNAL),
)

BY_NAME = {s.name: s for s in SETTINGS}


def problems(env: Mapping[str, str]) -> list[str]:
    """One line per wrong setting in ``env``, naming it and what to do."""
    out = []
    for s in SETTINGS:
        v = env.get(s.name)
        if not v:  # unset and empty alike: the default
            continue
        why = s.check(v)
        if why:
            # A URI is not repeated: it may hold the password it is refused for.
            # So is a secret's value.
            hidden = s.name in ("GGCC_STORAGE", "GG_STORAGE_URI", "GGCC_REAPI") or s.secret
            shown = s.name if hidden else f"{s.name}={v!r}"
            if s.name in env.get("GGCC_CONFIG_SET", "").split():
                from ggcc.base.config_file import path

                shown = f"config file {path(env)}: {_short(s.name)}" + ("" if hidden else f"={v!r}")
            out.append(f"{shown}: {why}")
    out += _config_file(env)
    out += _combinations(env)
    return out


def _config_file(env: Mapping[str, str]) -> list[str]:
    """The config file's problems (config_file.merge left them in env)."""
    from ggcc.base import config_file

    out = []
    if env.get(config_file.ERROR_VAR):
        out.append(f"config file {env[config_file.ERROR_VAR]}")
    for name in env.get(config_file.SET_VAR, "").split():
        if name not in BY_NAME or BY_NAME[name].scope == INTERNAL:
            out.append(f"config file {config_file.path(env)}: {_short(name)!r} is not a setting{_did_you_mean(name)}; "
                       "`ggcc config` lists them")
    return out


def _short(name: str) -> str:
    return name.lower().removeprefix("ggcc_")


def _did_you_mean(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, [s.name for s in SETTINGS if s.scope != INTERNAL], n=1, cutoff=0.75)
    return f" (did you mean {_short(close[0])}?)" if close else ""


def _combinations(env: Mapping[str, str]) -> list[str]:
    engine = env.get("GGCC_ENGINE") or "local"
    uri = env.get("GGCC_STORAGE") or env.get("GG_STORAGE_URI") or ""
    if engine == "lambda" and not uri.startswith(("s3://", "redis://", "rediss://")):
        return ["GGCC_ENGINE=lambda needs a shared store the function can reach: set GGCC_STORAGE=s3://bucket/prefix"]
    if engine == "workers" and not uri.startswith(("redis://", "rediss://")):
        return ["GGCC_ENGINE=workers needs the farm's Redis: set GGCC_STORAGE=redis://host:port/db"]
    if engine == "reapi" and not env.get("GGCC_REAPI"):
        return ["GGCC_ENGINE=reapi needs the farm's address: set GGCC_REAPI=grpc://host:port"]
    from ggcc.base.reapi_uri import CERT_WITHOUT_KEY, TLS_SETTINGS

    if bool(env.get("GGCC_REAPI_TLS_CERT")) != bool(env.get("GGCC_REAPI_TLS_KEY")):
        return [CERT_WITHOUT_KEY]
    tls = [n for n in TLS_SETTINGS if env.get(n)]
    if tls and not (env.get("GGCC_REAPI", "").startswith("grpcs://") or uri.startswith("grpcs://")):
        return [f"{tls[0]} is for TLS: write the address as grpcs://host:port (GGCC_REAPI or GGCC_STORAGE)"]
    return []


def relevant(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The part of ``env`` that problems() looks at (a cache key)."""
    return tuple((s.name, env[s.name]) for s in SETTINGS if s.name in env)


def number(env: Mapping[str, str], name: str, fallback: float) -> float:
    """A numeric setting's value, or ``fallback`` when unset or wrong (the
    wrong value is said by whoever checks problems())."""
    v = env.get(name)
    if not v or BY_NAME[name].check(v):
        return fallback
    return float(v)
