"""The preprocessor directives of one file, and nothing else.

The scanner never looks at C code, only at the lines that start with '#'
once lines are spliced and comments are gone, so a file is reduced once to
a short tuple of directives (cached by content id, see scan_cache.py) and
every later scan walks that tuple.

The reduction follows the translation phases that matter for directives:
backslash-newline splices first (gcc also accepts spaces between the
backslash and the newline), then comments become one space each, with
string and character literals kept whole so that a "/*" inside a string
starts nothing. A block comment spanning lines joins them, as it does for
the compiler, so ``#define X 1 /* ... \\n ... */`` stays one directive.

A directive is a plain tuple (marshal stores it as is):

    ("include" | "include_next" | "import", form, payload)
        form '<' or '"' with the header name, or 'm' with tokens
        (a computed include, ``#include MACRO``)
    ("if" | "elif", expression text, next)
    ("ifdef" | "ifndef" | "elifdef" | "elifndef", name, next)
    ("else", next)  ("endif",)
        next: the index of the next #elif/#else/#endif of the same group
    ("define", name, (params or None, body text))
    ("undef", name)
    ("once",)  ("system_header",)  ("push_macro", name)  ("pop_macro", name)

Anything else (#line, #error, #warning, other pragmas) cannot change which
files are read, and is dropped.
"""

from __future__ import annotations

import re
from typing import Any

Directive = tuple[Any, ...]  # the shapes are in the docstring

_SPLICE = re.compile(r"\\[ \t\f\v]*\r?\n")
# A string or character literal (kept: group 1), or a comment (dropped).
# The block-comment pattern is the unrolled form: no backtracking.
_COMMENT = re.compile(
    r"(\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*')"
    r"|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
    r"|//[^\n]*"
)
TOKEN = re.compile(
    r"[A-Za-z_$][\w$]*"
    r"|\.?[0-9](?:[eEpP][+-]|[\w.'])*"
    r"|(?:u8|[uUL])?\"(?:[^\"\\]|\\.)*\""
    r"|[uUL]?'(?:[^'\\]|\\.)*'"
    r"|\.\.\.|<<=|>>=|##|&&|\|\||==|!=|<=|>=|<<|>>|->|\+\+|--|[-+*/%&|^]="
    r"|\S"
)
_NOT_DEFINED = re.compile(r"!\s*defined\s*(?:\(\s*([A-Za-z_$][\w$]*)\s*\)|([A-Za-z_$][\w$]*))\s*\Z")


# One match per directive line; #define gets its name and parameter list
# split out by the same match (defines are half of all directives).
_DIRECTIVE = re.compile(
    r"^[ \t\f\v]*#[ \t\f\v]*(?:(define)[ \t\f\v]+([A-Za-z_$][\w$]*)(\([^)\n]*\))?|([A-Za-z_]\w*))"
    r"[ \t\f\v]*(.*)",
    re.M,
)
_BRANCH = frozenset({"if", "ifdef", "ifndef", "elif", "elifdef", "elifndef", "else"})
_CLOSES = frozenset({"elif", "elifdef", "elifndef", "else", "endif"})


def _keep_literal(m: re.Match[str]) -> str:
    lit = m.group(1)
    return lit if lit is not None else " "


def extract(data: bytes) -> tuple[str, tuple[Directive, ...]]:
    """(include guard macro or "", directives) of a file's bytes."""
    text = data.decode("latin-1")  # one char per byte: offsets and bytes survive
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if "\\" in text:
        text = _SPLICE.sub("", text)
    text = _COMMENT.sub(_keep_literal, text)
    out: list[Directive] = []
    open_branch: list[int] = []  # branches waiting for the index of their next sibling
    for define, dname, dparams, name, rest in _DIRECTIVE.findall(text):
        if define:
            body = rest.rstrip()
            if dparams:
                inner = dparams[1:-1]
                params = tuple(p.strip() for p in inner.split(",")) if inner.strip() else ()
                out.append(("define", dname, (params, body)))
            else:
                out.append(("define", dname, (None, body)))
            continue
        if name in _CLOSES and open_branch:
            k = open_branch.pop()
            out[k] = out[k] + (len(out),)
        d = _directive(name, rest.strip())
        if d is None:
            continue
        if name in _BRANCH:
            open_branch.append(len(out))
        out.append(d)
    for k in open_branch:  # unclosed: jump to the end
        out[k] = out[k] + (len(out),)
    directives = tuple(out)
    return guard_of(directives), directives


def _directive(name: str, rest: str) -> Directive | None:
    if name == "if" or name == "elif":
        return (name, rest)  # tokenized when first evaluated (cpp_expr)
    if name in ("include", "include_next", "import"):
        if rest.startswith("<"):
            end = rest.find(">")
            return (name, "<", _path_text(rest[1:end])) if end > 0 else None
        if rest.startswith('"'):
            end = rest.find('"', 1)
            return (name, '"', _path_text(rest[1:end])) if end > 0 else None
        toks = tuple(TOKEN.findall(rest))
        return (name, "m", toks) if toks else None
    if name in ("ifdef", "ifndef", "elifdef", "elifndef", "undef"):
        m = TOKEN.match(rest)
        return (name, m.group(0) if m else "")
    if name == "else" or name == "endif":
        return (name,)
    if name == "pragma":
        return _pragma(rest)
    return None


def _path_text(name: str) -> str:
    """A header name as the file system spells it (the text was decoded byte for byte)."""
    return name if name.isascii() else name.encode("latin-1").decode("utf-8", "surrogateescape")


_DEFINE = re.compile(r"([A-Za-z_$][\w$]*)(\([^)]*\))?[ \t\f\v]*(.*)", re.S)


def _define(rest: str) -> Directive | None:
    """("define", name, macro): the macro is (params or None, body text),
    one tuple made here and kept, so a scan can tell by identity that a
    macro is the same definition it saw before. The body is tokenized only
    if the macro is ever expanded (most never are)."""
    m = _DEFINE.match(rest)
    if m is None:
        return None
    name, params, body = m.groups()
    if params is None:
        return ("define", name, (None, body))
    inner = params[1:-1]
    return ("define", name, (tuple(p.strip() for p in inner.split(",")) if inner.strip() else (), body))


def _pragma(rest: str) -> Directive | None:
    toks = TOKEN.findall(rest)
    if toks == ["once"]:
        return ("once",)
    if toks[:2] == ["GCC", "system_header"]:
        return ("system_header",)
    if len(toks) >= 4 and toks[0] in ("push_macro", "pop_macro") and toks[1] == "(":
        s = toks[2]
        if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
            return (toks[0], s[1:-1])
    return None


def guard_of(directives: tuple[Directive, ...]) -> str:
    """The macro guarding the whole file (#ifndef X ... #endif), or "".

    When it is defined the file is known to contribute nothing: every
    directive sits inside the guard, and a scan can skip the file.
    """
    if len(directives) < 2 or directives[-1] != ("endif",):
        return ""
    first = directives[0]
    if first[0] == "ifndef":
        name = first[1]
    elif first[0] == "if" and (m := _NOT_DEFINED.match(first[1])) is not None:
        name = m.group(1) or m.group(2)
    else:
        return ""
    depth = 0
    for i, d in enumerate(directives):
        k = d[0]
        if k in ("if", "ifdef", "ifndef"):
            depth += 1
        elif k == "endif":
            depth -= 1
            if depth == 0:
                return name if i == len(directives) - 1 else ""
        elif depth == 1 and k in ("else", "elif", "elifdef", "elifndef"):
            return ""  # the file has a part for when the macro is defined
    return ""
