"""`ggcc config`: every setting's effective value and where it came from
(the environment, the config file and its line, or the default), like
`ccache -p`. Pure: the caller reads the environment and the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ggcc.base import config_file, settings


@dataclass(frozen=True)
class Row:
    name: str
    value: str  # as shown: a secret is "(set)"
    source: str  # "environment", "PATH:LINE" or "default"
    scope: str  # settings.BUILD, DAEMON, ...
    doc: str


def rows(env: Mapping[str, str], file_text: str | None, default_dir: str) -> list[Row]:
    """One row per setting a user can write (internal ones left out).
    ``env`` is the environment after config_file.merge; ``file_text`` the
    file as read (None: there is none), for the line each value came from."""
    from_file = set(env.get(config_file.SET_VAR, "").split())
    lines = {name: n for n, name, _ in (config_file.parse(file_text)[0] if file_text is not None else [])}
    where = config_file.path(env)
    out = []
    for s in settings.SETTINGS:
        if s.scope == settings.INTERNAL:
            continue
        value = env.get(s.name, "")
        if s.name in from_file:
            source = f"{where}:{lines.get(s.name, '?')}"
        elif value:
            source = "environment"
        else:
            source, value = "default", {"GGCC_DIR": default_dir, "GGCC_CONFIG": where}.get(s.name, s.default)
        if s.secret and source != "default":
            value = "(set)"
        elif s.name in ("GGCC_STORAGE", "GG_STORAGE_URI"):
            value = _without_user(value)
        out.append(Row(s.name, value, source, s.scope, s.doc))
    return out


def _without_user(uri: str) -> str:
    """A URI as shown: never its user part (it may hold a password)."""
    scheme, sep, rest = uri.partition("://")
    host, at, tail = rest.partition("@")
    return f"{scheme}{sep}***@{tail}" if sep and at and "/" not in host else uri


def render(found: list[Row], file: str, file_exists: bool, problems: list[str]) -> str:
    """The table `ggcc config` prints: the file, each setting, the problems."""
    head = f"config file: {file}" + ("" if file_exists else " (none; GGCC_CONFIG names another)")
    width = max(len(r.name) for r in found)
    vwidth = min(40, max(len(r.value) for r in found))
    lines = [head, ""]
    for r in found:
        when = "" if r.scope == settings.BUILD else f"  [{_SCOPES[r.scope]}]"
        lines.append(f"{r.name:<{width}}  {r.value or '-':<{vwidth}}  ({r.source}){when}")
    if any(r.scope == settings.DAEMON for r in found):
        lines += ["", "[read by the daemon when it starts]: `ggcc daemon stop` after a change"]
    lines += [f"problem: {p}" for p in problems]
    return "\n".join(lines) + "\n"


def markdown() -> str:
    """The catalogue as a Markdown table (docs/settings.md is this, tested)."""
    out = ["| setting | default | read | meaning |", "|---|---|---|---|"]
    for s in settings.SETTINGS:
        if s.scope != settings.INTERNAL:
            doc = s.doc.replace("|", "\\|")
            out.append(f"| `{s.name}` | {s.default or '-'} | {_READ[s.scope]} | {doc} |")
    return "\n".join(out) + "\n"


_READ = {settings.BUILD: "each compile", settings.DAEMON: "daemon start", settings.COMMAND: "commands",
         settings.FUNCTION: "Lambda function"}
_SCOPES = {settings.DAEMON: "read by the daemon when it starts", settings.COMMAND: "read by ggcc's commands",
           settings.FUNCTION: "read inside the Lambda function"}
