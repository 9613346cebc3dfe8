"""Make-style dependency files, written byte for byte as gcc writes them.

libcpp's mkdeps: targets first (the unquoted -MT ones moved before the
-MQ ones, which are escaped for make), then ':' and the dependencies, each
separated by a space and the line broken with " \\" before a name that
would pass column 72; with -MP, an empty rule for every dependency but the
source. A leading "./" is dropped from every name. And the reader of the
compiler's own: parse_depfile.
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


def parse_depfile(text: str) -> list[str]:
    """Prerequisites of the first rule of a make depfile (gcc's escaping)."""
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    first = text.split("\n", 1)[0]
    # The target ends at the first ':' that is not escaped and not a drive
    # letter; gcc escapes ':' nowhere in targets it writes with -MQ, so the
    # first ': ' or ':' at end of the target word is the separator.
    colon = _rule_colon(first)
    deps_text = first[colon + 1:]
    if "\\" not in deps_text and "$" not in deps_text:  # nearly every depfile: nothing escaped
        return [w for w in deps_text.replace("\t", " ").split(" ") if w]
    out: list[str] = []
    word: list[str] = []
    i = 0
    while i < len(deps_text):
        c = deps_text[i]
        if c == "\\" and i + 1 < len(deps_text) and deps_text[i + 1] in " #\\":
            word.append(deps_text[i + 1])
            i += 2
            continue
        if c == "$" and i + 1 < len(deps_text) and deps_text[i + 1] == "$":
            word.append("$")
            i += 2
            continue
        if c in " \t":
            if word:
                out.append("".join(word))
                word = []
            i += 1
            continue
        word.append(c)
        i += 1
    if word:
        out.append("".join(word))
    return out


def _rule_colon(line: str) -> int:
    i = 0
    while True:
        j = line.find(":", i)
        if j < 0:
            raise ValueError("not a make rule")
        if j > 0 and line[j - 1] == "\\":
            i = j + 1
            continue
        return j
