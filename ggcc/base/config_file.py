"""The config file: settings written once for every build, like ccache.conf.

Where: $GGCC_CONFIG, else $XDG_CONFIG_HOME/ggcc/config.toml, else
~/.config/ggcc/config.toml. What: one ``name = value`` per line (a flat
TOML file), the name a setting's (settings.py) in lower case without
GGCC_ (``max_size``) or in full (``GGCC_MAX_SIZE``), the value a "string",
a 'string', a number, true or false; ``#`` starts a comment:

    storage = "redis://cache.example:6379/0"
    max_size = "20G"
    jobs = 8

The environment wins over the file, the file over the default. The file is
merged into the environment where ggcc starts (a launcher, a command), so
every part of ggcc, the daemon it starts and the build's children see one
set of values. GGCC_CONFIG_SET then names the settings the file gave (so
`ggcc config` can say where each value came from, and a launcher under a
command that already merged need not read the file again) and
GGCC_CONFIG_ERROR holds what in the file could not be read: settings.py
turns it, and a name that is no setting, into a bad setting, said aloud.

This module imports nothing: the launcher's client reads the file on every
compile that has not inherited the merge (a failed open when there is none).
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping

SET_VAR = "GGCC_CONFIG_SET"
ERROR_VAR = "GGCC_CONFIG_ERROR"
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


def path(env: "Mapping[str, str]") -> str:
    """Where the config file is for the environment ``env``."""
    given = env.get("GGCC_CONFIG")
    if given:
        return given
    base = env.get("XDG_CONFIG_HOME") or (env.get("HOME", "") + "/.config")
    return base + "/ggcc/config.toml"


def name_of(key: str) -> str:
    """A file's key as the setting's full name: max_size -> GGCC_MAX_SIZE."""
    k = key.upper()
    return k if k.startswith(("GGCC_", "GG_")) else "GGCC_" + k


def parse(text: str) -> "tuple[list[tuple[int, str, str]], list[str]]":
    """(line number, setting name, value) for each setting in ``text``, and
    one problem ("line N: what is wrong; what to write") per line that is
    not a setting. Pure."""
    found: list[tuple[int, str, str]] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, rest = line.partition("=")
        key = key.strip()
        if line.startswith("["):
            problems.append(f"line {number}: tables are not read; write `name = value` lines only")
        elif not eq or not key or not all(c.isalnum() or c == "_" for c in key):
            problems.append(f"line {number}: not `name = value`; write e.g. max_size = \"20G\"")
        else:
            value, why = _value(rest.strip())
            if why:
                problems.append(f"line {number}: {key}: {why}")
            else:
                found.append((number, name_of(key), value))
    return found, problems


def _value(text: str) -> "tuple[str, str]":
    """A TOML value as the environment would hold it, or ("", why not)."""
    if text[:1] in ('"', "'"):
        quote, out, i = text[0], [], 1
        while i < len(text) and text[i] != quote:
            c = text[i]
            if c == "\\" and quote == '"':
                i += 1
                if text[i:i + 1] not in _ESCAPES:
                    return "", "an escape TOML has and ggcc does not read; write the character itself"
                c = _ESCAPES[text[i]]
            out.append(c)
            i += 1
        tail = text[i + 1:].strip()
        if i >= len(text):
            return "", f"the string has no closing {quote}"
        if tail and not tail.startswith("#"):
            return "", "something after the string; put comments after a #"
        return "".join(out), ""
    bare = text.partition("#")[0].strip()
    if bare in ("true", "false"):
        return ("1" if bare == "true" else "0"), ""
    digits = bare.replace("_", "")
    if digits and digits.lstrip("+-").replace(".", "", 1).isdigit():
        return digits, ""
    return "", f"{bare!r} is not a value; put text in quotes, e.g. \"{bare}\""


def merge(env: "MutableMapping[str, str]") -> None:
    """Add the file's settings to ``env`` where ``env`` has none, once."""
    if SET_VAR in env:
        return  # merged by whoever started this process
    p = path(env)
    try:
        with open(p, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        env[SET_VAR] = ""
        return
    found, problems = parse(text)
    given = []
    for _, name, value in found:
        if name not in env:
            env[name] = value
            given.append(name)
    env[SET_VAR] = " ".join(given)
    if problems:
        env[ERROR_VAR] = f"{p}: " + "; ".join(problems)
