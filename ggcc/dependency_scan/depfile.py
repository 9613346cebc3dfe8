"""Make-style dependency files, written byte for byte as gcc writes them.

libcpp's mkdeps: targets first (the unquoted -MT ones moved before the
-MQ ones, which are escaped for make), then ':' and the dependencies, each
separated by a space and the line broken with " \\" before a name that
would pass column 72; with -MP, an empty rule for every dependency but the
source. A leading "./" is dropped from every name.
"""

from __future__ import annotations

COLUMNS = 72


def strip_dot_slash(name: str) -> str:
    while name.startswith("./"):
        name = name[2:].lstrip("/")
    return name


def munge(name: str) -> str:
    """Escape a name for make the way gcc does."""
    if not ("\\" in name or "$" in name or " " in name or "\t" in name or "#" in name):
        return name  # nearly every name: nothing to escape (a test per character costs a scan's time)
    out: list[str] = []
    slashes = 0
    for c in name:
        if c == "\\":
            slashes += 1
        elif c == "$":
            out.append("$")
            slashes = 0
        elif c in " \t":
            out.append("\\" * slashes + "\\")
            slashes = 0
        elif c == "#":
            out.append("\\")
            slashes = 0
        else:
            slashes = 0
        out.append(c)
    return "".join(out)


def render(targets: list[tuple[str, str]], deps: list[str], phony: bool) -> str:
    """targets: ("-MT" | "-MQ", name) in command-line order; deps in order."""
    ordered: list[str] = []
    quoted_from = 0  # like mkdeps' quote_lwm: names before it are not escaped
    for opt, t in targets:
        t = strip_dot_slash(t)
        if opt == "-MT":
            if quoted_from != len(ordered):
                ordered[quoted_from], t = t, ordered[quoted_from]
            quoted_from += 1
        ordered.append(t)
    names = [strip_dot_slash(d) for d in deps]
    out: list[str] = []
    col = 0
    for i, t in enumerate(ordered):
        col = _write(out, t if i < quoted_from else munge(t), col)
    out.append(":")
    col += 1
    for d in names:
        col = _write(out, munge(d), col)
    out.append("\n")
    if phony:
        for d in names[1:]:
            out.append(munge(d) + ":\n")
    return "".join(out)


def _write(out: list[str], name: str, col: int) -> int:
    if col:
        if col + len(name) > COLUMNS:
            out.append(" \\\n")
            col = 0
        col += 1
        out.append(" ")
    out.append(name)
    return col + len(name)
