"""Which files a compile reads, found by walking preprocessor directives.

This is gcc's own include logic (libcpp's files.cc) replayed over cached
directive lists, so that the answer, and the depfile made from it, are the
ones ``gcc -M`` would give:

- a header is looked up in a *start directory* and the chain after it:
  the including file's own directory for "..." (then the -iquote dirs),
  the first bracket directory for <...>, the directory after the
  includer's for #include_next;
- a file is known by (name as written, start directory), which is why gcc
  lists ``sub/a.h`` twice in a depfile when it is reached as "sub/a.h"
  from one file and as "a.h" from another; searches that pass the heads of
  the quote and bracket chains are remembered for those heads too;
- a file enters the dependency list on its first inclusion, unless a file
  with the same contents was marked ``#pragma once``; it is a system
  header (left out by -MMD) if its directory is a system one or its
  includer is a system header or said ``#pragma GCC system_header``;
- ``./`` in front of a path is dropped when it is written out.

Conditionals are evaluated with the compiler's predefined macros (one
``-dM`` run per flag set, see headers.py) and the file's own #defines.
When a condition cannot be decided, every branch is taken and the macros
those branches touch become uncertain, so later conditions that depend on
them are undecidable too: extra headers, never a missing one. A scan that
took such a branch is not exact, and its depfile is left to the compiler.

Anything the walk cannot do (a computed include it cannot expand, a header
it cannot find on a branch that is surely taken, nesting beyond gcc's 200)
raises Unsupported, and the caller falls back to the compiler's -M.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ggcc.dependency_scan.cpp_expr import UNCERTAIN, Expander, Macro, Undecidable
from ggcc.dependency_scan.directives import Directive

MAX_DEPTH = 200  # gcc's #include nesting limit

# Region modes (dead regions are jumped over, never walked)
_MAYBE, _LIVE = 1, 2
# How much of an #if group has been taken so far
_NO, _SOME, _YES = 0, 1, 2


class Unsupported(Exception):
    """The scanner cannot answer exactly; the compiler's -M must."""


@dataclass(frozen=True)
class Config:
    """What one compiler with one flag set brings to every scan."""

    quote_dirs: tuple[str, ...]  # -iquote, in order
    bracket_dirs: tuple[str, ...]  # -I, -isystem, the defaults, -idirafter
    system_dirs: frozenset[str]  # the bracket dirs that hold system headers
    macros: dict[str, Macro]  # predefined, after -D/-U
    preincludes: tuple[str, ...]  # names included before the source (<stdc-predef.h>)
    queries: frozenset[str]  # builtins only the compiler can answer
    cplusplus: bool
    family: str = "gcc"  # "gcc" or "clang": clang writes depfiles its own way
    ask: Callable[[str, str], int | None] | None = None  # answers __has_attribute(...) and the like
    memo: dict[object, list[object]] = field(default_factory=dict, compare=False)  # #if values, see cpp_expr
    missing_dirs: tuple[str, ...] = ()  # search dirs the compiler skipped as nonexistent (as spelled)


@dataclass
class Result:
    files: list[str]  # every file read, as gcc names it (source first)
    deps: list[tuple[str, bool]]  # gcc's dependency list: (path, is system header)
    absent: set[str]  # paths looked for and not found (host paths, relative to cwd or absolute)
    exact: bool  # no uncertain branch changed what was included


@dataclass
class _File:
    """A file as libcpp knows it: one per (name, start directory)."""

    path: str
    dir: object  # where it was found: chain index, ("cur", name) or "abs"
    stacked: bool = False


@dataclass
class _Buffer:
    path: str
    dir: object
    sysp: bool
    is_main: bool


@dataclass
class _Walk:
    config: Config
    cwd: str
    exists: Callable[[str], bool]  # host path -> a readable non-directory exists
    load: Callable[[str], tuple[str, str, tuple[Directive, ...]]]  # host path -> (content id, guard, directives)
    macros: dict[str, Macro] = field(default_factory=dict)
    chain: tuple[str, ...] = ()
    files_seen: dict[str, None] = field(default_factory=dict)
    deps: list[tuple[str, bool]] = field(default_factory=list)
    absent: set[str] = field(default_factory=set)
    entries: dict[tuple[str, object], _File | None] = field(default_factory=dict)
    cur_dirs: dict[str, bool] = field(default_factory=dict)  # interned "current" dirs -> sysp
    once: set[str] = field(default_factory=set)  # content ids marked #pragma once
    pushed: dict[str, list[Macro | None]] = field(default_factory=dict)
    exact: bool = True
    depth: int = 0
    active: dict[str, int] = field(default_factory=dict)  # paths on the include stack


def scan(config: Config, source: str, cwd: str, exists: Callable[[str], bool],
         load: Callable[[str], tuple[str, str, tuple[Directive, ...]]]) -> Result:
    w = _Walk(config, cwd, exists, load, dict(config.macros), config.quote_dirs + config.bracket_dirs)
    expander = Expander(w.macros, config.queries, lambda form, name, nxt: _has_include(w, form, name, nxt, cur),
                        config.cplusplus, config.ask, config.macros, config.memo)
    main = _File(source, "abs", stacked=True)
    w.entries[(source, "abs")] = main
    w.deps.append((source, False))
    w.files_seen[source] = None
    buf = _Buffer(source, "abs", False, True)
    cur = [buf]  # the buffer __has_include is asked from
    for name in config.preincludes:
        _include(w, expander, buf, cur, "include", "<", name, _LIVE)
    cid, _, directives = w.load(_host(cwd, source))
    _walk(w, expander, buf, cur, directives, cid, _LIVE)
    return Result(list(w.files_seen), w.deps, w.absent, w.exact)


def _host(cwd: str, path: str) -> str:
    return path if path.startswith("/") else os.path.join(cwd, path)


def _walk(w: _Walk, ex: Expander, buf: _Buffer, cur: list[_Buffer], directives: tuple[Directive, ...],
          content_id: str, mode: int) -> None:
    """Process one file's directives, starting in a live or maybe region.

    A branch that is not taken is jumped over (each branch directive knows
    its next sibling), so the walk never reads inside dead code.
    """
    stack: list[tuple[int, int]] = []  # (mode outside the group, how much was taken)
    macros = w.macros
    n = len(directives)
    i = 0
    while i < n:
        d = directives[i]
        i += 1
        k = d[0]
        if k == "if" or k == "ifdef" or k == "ifndef":
            v = _condition(w, ex, d)
            stack.append((mode, _YES if v is True else _SOME if v is None else _NO))
            if v is False:
                i = d[-1]
            elif v is None:
                mode = _MAYBE
            continue
        if k == "elif" or k == "else" or k == "elifdef" or k == "elifndef":
            if not stack:
                continue  # gcc errors; the compile will say so
            outer, taken = stack[-1]
            if taken == _YES:
                i = d[-1]
                continue
            v = True if k == "else" else _condition(w, ex, d)
            if taken == _NO:
                taken = _YES if v is True else _SOME if v is None else _NO
                mode = outer if v is True else _MAYBE
            else:  # an earlier branch may have been taken
                taken = _YES if v is True else _SOME
                mode = _MAYBE
            stack[-1] = (outer, taken)
            if v is False:
                i = d[-1]
            continue
        if k == "endif":
            if stack:
                mode = stack.pop()[0]
            continue
        if k == "define":
            macros[d[1]] = d[2] if mode == _LIVE else UNCERTAIN
        elif k == "undef":
            if mode == _LIVE:
                macros.pop(d[1], None)
            else:
                macros[d[1]] = UNCERTAIN
        elif k == "include" or k == "include_next" or k == "import":
            _include(w, ex, buf, cur, k, d[1], d[2], mode)
        elif k == "once":
            if mode == _LIVE:
                w.once.add(content_id)
        elif k == "system_header":
            if not buf.is_main:
                buf.sysp = True
        elif k == "push_macro":
            w.pushed.setdefault(d[1], []).append(macros.get(d[1]) if mode == _LIVE else UNCERTAIN)
        elif k == "pop_macro":
            saved = w.pushed.get(d[1])
            if saved:
                m = saved.pop()
                if mode != _LIVE:
                    macros[d[1]] = UNCERTAIN
                elif m is None:
                    macros.pop(d[1], None)
                else:
                    macros[d[1]] = m


def _condition(w: _Walk, ex: Expander, d: Directive) -> bool | None:
    """True, False, or None when it cannot be decided."""
    k = d[0]
    try:
        if k == "ifdef" or k == "elifdef":
            return ex.defined(d[1])
        if k == "ifndef" or k == "elifndef":
            return not ex.defined(d[1])
        return ex.evaluate(d[1])
    except Undecidable:
        return None


def _include(w: _Walk, ex: Expander, buf: _Buffer, cur: list[_Buffer], kind: str, form: str, payload: object,
             mode: int) -> None:
    if form == "m":
        try:
            toks = ex.expand(payload, False)  # type: ignore[arg-type]
        except Undecidable:
            toks = []
        spelled = "".join(toks)
        if len(spelled) >= 2 and spelled[0] == '"' and spelled[-1] == '"':
            form, name = '"', spelled[1:-1]
        elif len(spelled) >= 2 and spelled[0] == "<" and spelled[-1] == ">":
            form, name = "<", spelled[1:-1]
        elif mode == _LIVE:
            raise Unsupported("computed-include")
        else:
            w.exact = False
            return
    else:
        name = payload  # type: ignore[assignment]
    f = _find(w, buf, form, name, kind == "include_next")
    if f is None:
        if mode == _LIVE:
            raise Unsupported("header-not-found")
        return  # on a branch that may not be taken: its absence is recorded
    host = _host(w.cwd, f.path)
    cid, guard, directives = w.load(host)
    if cid in w.once:
        return
    if kind == "import" and f.stacked:
        return
    sysp = buf.sysp or _dir_sysp(w, f.dir)
    if mode != _LIVE and not f.stacked:
        w.exact = False
    if not f.stacked:
        w.deps.append((f.path, sysp))
        f.stacked = True
    w.files_seen.setdefault(f.path, None)
    if guard:
        g = w.macros.get(guard)
        if g is not None and g is not UNCERTAIN:
            return  # the whole file is inside #ifndef guard
    if mode != _LIVE and f.path in w.active:
        return  # a header re-entering itself on an uncertain branch: its guard is uncertain too
    if w.depth >= MAX_DEPTH:
        raise Unsupported("include-depth")
    inner = _Buffer(f.path, f.dir, sysp, False)
    saved = cur[0]
    cur[0] = inner
    w.depth += 1
    w.active[f.path] = w.active.get(f.path, 0) + 1
    try:
        _walk(w, ex, inner, cur, directives, cid, mode)
    finally:
        w.depth -= 1
        w.active[f.path] -= 1
        if not w.active[f.path]:
            del w.active[f.path]
        cur[0] = saved


def _has_include(w: _Walk, form: str, name: str, is_next: bool, cur: list[_Buffer]) -> bool:
    f = _find(w, cur[0], form, name, is_next)
    if f is None:
        return False
    # Not a dependency for gcc, but an input all the same: in a sandbox
    # without it, __has_include would answer differently.
    w.files_seen.setdefault(f.path, None)
    return True


def _start(w: _Walk, buf: _Buffer, form: str, name: str, is_next: bool) -> object:
    if name.startswith("/"):
        return "abs"
    if is_next and not buf.is_main and buf.dir != "abs":
        return _next_dir(w, buf.dir)
    if form == "<":
        return len(w.config.quote_dirs) if len(w.config.quote_dirs) < len(w.chain) else None
    d = _dir_name(buf.path)
    if d not in w.cur_dirs:
        w.cur_dirs[d] = buf.sysp  # libcpp interns these by name: the first sysp sticks
    return ("cur", d)


def _next_dir(w: _Walk, d: object) -> object:
    if isinstance(d, int):
        return d + 1 if d + 1 < len(w.chain) else None
    return 0 if w.chain else None  # after the current directory comes the quote chain


def _find(w: _Walk, buf: _Buffer, form: str, name: str, is_next: bool) -> _File | None:
    start = _start(w, buf, form, name, is_next)
    key = (name, start)
    if key in w.entries:
        return w.entries[key]
    if start is None:
        w.entries[key] = None
        return None
    quote_head = 0
    bracket_head = len(w.config.quote_dirs)
    d: object = start
    saw_quote = saw_bracket = False
    cached_at: object = None
    found: _File | None = None
    while True:
        path = name if d == "abs" else _join(_dir_of(w, d), name)
        if w.exists(_host(w.cwd, path)):
            found = _File(path, d)
            break
        w.absent.add(_host(w.cwd, path))
        if d == "abs":
            break
        d = _next_dir(w, d)
        if d is None:
            break
        if d == bracket_head:
            saw_bracket = True
        elif d == quote_head:
            saw_quote = True
        else:
            continue
        hit = w.entries.get((name, d))
        if hit is not None:
            found, cached_at = hit, d
            break
    w.entries[key] = found
    if saw_bracket and start != bracket_head and cached_at != bracket_head:
        w.entries[(name, bracket_head)] = found
    if saw_quote and start != quote_head and cached_at != quote_head:
        w.entries[(name, quote_head)] = found
    return found


def _dir_of(w: _Walk, d: object) -> str:
    if isinstance(d, int):
        return w.chain[d]
    return d[1]  # type: ignore[index, no-any-return]


def _dir_sysp(w: _Walk, d: object) -> bool:
    if isinstance(d, int):
        return w.chain[d] in w.config.system_dirs and d >= len(w.config.quote_dirs)
    if isinstance(d, tuple):
        return w.cur_dirs.get(d[1], False)
    return False


def _dir_name(path: str) -> str:
    """libcpp's dir_name_of_file: everything up to and including the last '/'."""
    return path[:path.rfind("/") + 1]


def _join(d: str, name: str) -> str:
    """libcpp's append_file_to_dir."""
    if not d:
        return name
    return d + name if d.endswith("/") else d + "/" + name
