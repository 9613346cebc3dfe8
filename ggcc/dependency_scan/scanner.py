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

from dataclasses import dataclass, field
from typing import Callable, Protocol

from ggcc.dependency_scan import lookup
from ggcc.dependency_scan.cpp_arith import Undecidable
from ggcc.dependency_scan.cpp_expr import UNCERTAIN, Expander, Macro
from ggcc.dependency_scan.directives import Directive
from ggcc.dependency_scan.replay import MAX_SUMMARIES, Identity, Recorder, Summary

MAX_DEPTH = 200  # gcc's #include nesting limit
# Headers this close to the source get summaries (replay.py). Deeper ones
# are recorded as part of them: a summary per header at every depth would
# copy each read up the whole include stack.
SUMMARY_DEPTH = 2

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
    missing_dirs: tuple[str, ...] = ()  # search dirs the compiler skipped as nonexistent (as spelled)
    # What scans of this flag set remember (see cpp_expr, lookup, replay):
    memo: dict[object, list[object]] = field(default_factory=dict, compare=False)
    resolved: dict[tuple[str, object], lookup.Resolution] = field(default_factory=dict, compare=False)
    summaries: dict[tuple[object, ...], list[Summary]] = field(default_factory=dict, compare=False)


@dataclass
class Result:
    files: list[str]  # every file read, as gcc names it (source first)
    deps: list[tuple[str, bool]]  # gcc's dependency list: (path, is system header)
    absent: set[str]  # paths looked for and not found (host paths, relative to cwd or absolute)
    exact: bool  # no uncertain branch changed what was included
    replayed: int = 0  # headers answered from a summary instead of walked


class Files(lookup.Listings, Protocol):
    def file_id(self, path: str) -> str: ...
    def load(self, path: str) -> tuple[str, str, tuple[Directive, ...]]: ...  # (content id, guard, directives)


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
    files: Files
    macros: dict[str, Macro]
    chain: tuple[str, ...]
    ex: Expander = field(init=False)
    cur: _Buffer = field(init=False)  # the buffer being walked (for __has_include)
    files_seen: dict[str, None] = field(default_factory=dict)
    deps: list[tuple[str, bool]] = field(default_factory=list)
    absent: set[str] = field(default_factory=set)
    stacked: set[Identity] = field(default_factory=set)  # files already listed
    resolutions: dict[tuple[str, object], lookup.Resolution] = field(default_factory=dict)  # checked this scan
    cur_dirs: dict[str, bool] = field(default_factory=dict)  # interned "current" dirs -> sysp
    once: set[str] = field(default_factory=set)  # content ids marked #pragma once
    pushed: dict[str, list[Macro | None]] = field(default_factory=dict)
    exact: bool = True
    depth: int = 0
    active: dict[str, int] = field(default_factory=dict)  # paths on the include stack
    rec: Recorder | None = None  # the innermost header being recorded
    replayed: int = 0


def scan(config: Config, source: str, cwd: str, files: Files) -> Result:
    w = _Walk(config, cwd, files, dict(config.macros), config.quote_dirs + config.bracket_dirs)
    w.ex = Expander(w.macros, config.queries, lambda form, name, nxt: _has_include(w, form, name, nxt),
                    config.cplusplus, config.ask, config.macros, config.memo)
    w.stacked.add((source, "abs"))
    w.deps.append((source, False))
    w.files_seen[source] = None
    buf = _Buffer(source, "abs", False, True)
    w.cur = buf
    for name in config.preincludes:
        _include(w, buf, "include", "<", name, _LIVE)
    cid, _, directives = files.load(lookup.host(cwd, source))
    _walk(w, buf, directives, cid, _LIVE)
    return Result(list(w.files_seen), w.deps, w.absent, w.exact, w.replayed)


# -- recording what the walk reads and writes ---------------------------------


def _read_macro(w: _Walk, name: str) -> Macro | None:
    m = w.macros.get(name)
    if w.rec is not None:
        w.rec.read("m", name, m)
    return m


def _set_macro(w: _Walk, name: str, m: Macro | None) -> None:
    if m is None:
        w.macros.pop(name, None)
    else:
        w.macros[name] = m
    if w.rec is not None:
        w.rec.wrote("m", name)
        w.rec.macro_writes[name] = m


def _expander_reads(w: _Walk) -> None:
    if w.rec is not None:
        for name, m in w.ex.last_reads:
            w.rec.read("m", name, m)


def _dir_listing(w: _Walk, d: str, names: frozenset[str]) -> None:
    if w.rec is not None:
        w.rec.read("d", d, names)


def _note_file(w: _Walk, path: str) -> None:
    w.files_seen[path] = None
    if w.rec is not None:
        w.rec.files[path] = None


# -- the walk ----------------------------------------------------------------------


def _walk(w: _Walk, buf: _Buffer, directives: tuple[Directive, ...], content_id: str, mode: int) -> None:
    """Process one file's directives, starting in a live or maybe region.

    A branch that is not taken is jumped over (each branch directive knows
    its next sibling), so the walk never reads inside dead code.
    """
    stack: list[tuple[int, int]] = []  # (mode outside the group, how much was taken)
    n = len(directives)
    i = 0
    while i < n:
        d = directives[i]
        i += 1
        k = d[0]
        if k == "if" or k == "ifdef" or k == "ifndef":
            v = _condition(w, d)
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
            v = True if k == "else" else _condition(w, d)
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
            _set_macro(w, d[1], d[2] if mode == _LIVE else UNCERTAIN)
        elif k == "undef":
            _set_macro(w, d[1], None if mode == _LIVE else UNCERTAIN)
        elif k == "include" or k == "include_next" or k == "import":
            _include(w, buf, k, d[1], d[2], mode)
        elif k == "once":
            if mode == _LIVE:
                w.once.add(content_id)
                if w.rec is not None:
                    w.rec.wrote("o", content_id)
                    w.rec.once_adds.append(content_id)
        elif k == "system_header":
            if not buf.is_main:
                buf.sysp = True
        elif k == "push_macro" or k == "pop_macro":
            _push_pop(w, k, d[1], mode)


def _push_pop(w: _Walk, k: str, name: str, mode: int) -> None:
    if w.rec is not None:
        w.rec.unmemo = True  # the saved stack is not recorded
    if k == "push_macro":
        w.pushed.setdefault(name, []).append(w.macros.get(name) if mode == _LIVE else UNCERTAIN)
        return
    saved = w.pushed.get(name)
    if saved:
        m = saved.pop()
        _set_macro(w, name, m if mode == _LIVE else UNCERTAIN)


def _condition(w: _Walk, d: Directive) -> bool | None:
    """True, False, or None when it cannot be decided."""
    k = d[0]
    if k == "if" or k == "elif":
        try:
            return w.ex.evaluate(d[1])
        except Undecidable:
            return None
        finally:
            _expander_reads(w)
    m = _read_macro(w, d[1])
    if m is UNCERTAIN:
        return None
    defined = m is not None or w.ex.builtin_defined(d[1])
    return defined if k == "ifdef" or k == "elifdef" else not defined


def _include(w: _Walk, buf: _Buffer, kind: str, form: str, payload: object, mode: int) -> None:
    if form == "m":
        try:
            toks = w.ex.expand(payload, False)  # type: ignore[arg-type]
        except Undecidable:
            toks = []
        finally:
            _expander_reads(w)
        spelled = "".join(toks)
        if len(spelled) >= 2 and spelled[0] == '"' and spelled[-1] == '"':
            form, name = '"', spelled[1:-1]
        elif len(spelled) >= 2 and spelled[0] == "<" and spelled[-1] == ">":
            form, name = "<", spelled[1:-1]
        elif mode == _LIVE:
            raise Unsupported("computed-include")
        else:
            _inexact(w)
            return
    else:
        name = payload  # type: ignore[assignment]
    f = _find(w, buf, form, name, kind == "include_next")
    if f is None:
        if mode == _LIVE:
            raise Unsupported("header-not-found")
        return  # on a branch that may not be taken: its absence is recorded
    host = lookup.host(w.cwd, f.path)
    cid, guard, directives = w.files.load(host)
    rec = w.rec
    if rec is not None:
        rec.read("f", host, cid)
        rec.read("o", cid, cid in w.once)
    if cid in w.once:
        return
    if kind == "import":
        if rec is not None:
            rec.unmemo = True  # depends on what was listed before
        if f.identity in w.stacked:
            return
    sysp = buf.sysp or _dir_sysp(w, f.dir)
    _stack(w, f, sysp, mode != _LIVE)
    _note_file(w, f.path)
    if guard:
        g = _read_macro(w, guard)
        if g is not None and g is not UNCERTAIN:
            return  # the whole file is inside #ifndef guard
    if mode != _LIVE:
        if rec is not None:
            rec.unmemo = True  # what follows depends on the include stack
        if f.path in w.active:
            return  # a header re-entering itself on an uncertain branch: its guard is uncertain too
    if w.depth >= MAX_DEPTH:
        raise Unsupported("include-depth")
    key = (cid, f.path, f.dir, sysp)
    summarize = mode == _LIVE and w.depth < SUMMARY_DEPTH
    if summarize:
        for s in w.config.summaries.get(key, ()):
            if w.depth + s.depth < MAX_DEPTH and _still_holds(w, s):
                _apply(w, s)
                return
    inner = _Buffer(f.path, f.dir, sysp, False)
    saved = w.cur
    w.cur = inner
    w.depth += 1
    w.active[f.path] = w.active.get(f.path, 0) + 1
    mine = Recorder() if summarize else None
    if mine is not None:
        w.rec = mine
    try:
        _walk(w, inner, directives, cid, mode)
    finally:
        w.depth -= 1
        w.active[f.path] -= 1
        if not w.active[f.path]:
            del w.active[f.path]
        w.cur = saved
        if mine is not None:
            w.rec = rec
    if mine is not None:
        if not mine.unmemo:
            known = w.config.summaries.setdefault(key, [])
            if len(known) < MAX_SUMMARIES:
                known.append(mine.summary())
        if rec is not None:
            rec.merge(mine)


def _stack(w: _Walk, f: lookup.Found, sysp: bool, maybe: bool) -> None:
    if f.identity not in w.stacked:
        if maybe:
            w.exact = False
        w.stacked.add(f.identity)
        w.deps.append((f.path, sysp))
    if w.rec is not None:
        w.rec.stacks.append((f.identity, f.path, sysp, maybe))


def _inexact(w: _Walk) -> None:
    w.exact = False
    if w.rec is not None:
        w.rec.inexact = True


def _still_holds(w: _Walk, s: Summary) -> bool:
    macros = w.macros
    for kind, key, value in s.reads:
        if kind == "m":
            if macros.get(key) is not value:
                return False
        elif kind == "f":
            try:
                if w.files.file_id(key) != value:
                    return False
            except OSError:
                return False
        elif kind == "d":
            if w.files.listing(key) is not value:
                return False
        elif kind == "o":
            if (key in w.once) != value:
                return False
        elif w.cur_dirs.get(key) != value:  # "c"
            return False
    return True


def _apply(w: _Walk, s: Summary) -> None:
    w.macros.update(s.defines)
    for name in s.undefs:
        w.macros.pop(name, None)
    w.once.update(s.once_adds)
    for d, sysp in s.cur_adds:
        w.cur_dirs.setdefault(d, sysp)
    for identity, path, sysp, maybe in s.stacks:
        if identity not in w.stacked:
            if maybe:
                w.exact = False
            w.stacked.add(identity)
            w.deps.append((path, sysp))
    w.files_seen.update(dict.fromkeys(s.files))
    w.absent.update(s.absent)
    if s.inexact:
        w.exact = False
    w.replayed += 1
    if w.rec is not None:
        w.rec.merge(s)


def _has_include(w: _Walk, form: str, name: str, is_next: bool) -> bool:
    f = _find(w, w.cur, form, name, is_next)
    if f is None:
        return False
    # Not a dependency for gcc, but an input all the same: in a sandbox
    # without it, __has_include would answer differently.
    _note_file(w, f.path)
    return True


# -- looking headers up ---------------------------------------------------------------


def _start(w: _Walk, buf: _Buffer, form: str, name: str, is_next: bool) -> object:
    if name.startswith("/"):
        return "abs"
    if is_next and not buf.is_main and buf.dir != "abs":
        return lookup.next_dir(w.chain, buf.dir)
    if form == "<":
        return len(w.config.quote_dirs) if len(w.config.quote_dirs) < len(w.chain) else None
    d = lookup.dir_name(buf.path)
    known = w.cur_dirs.get(d)
    if w.rec is not None:
        w.rec.read("c", d, known)
    if known is None:
        # libcpp interns these by name: the sysp of the first includer sticks
        w.cur_dirs[d] = buf.sysp
        if w.rec is not None:
            w.rec.wrote("c", d)
            w.rec.cur_adds.append((d, buf.sysp))
    return ("cur", d)


def _find(w: _Walk, buf: _Buffer, form: str, name: str, is_next: bool) -> lookup.Found | None:
    start = _start(w, buf, form, name, is_next)
    if start is None:
        return None
    key = (name, start)
    r = w.resolutions.get(key)
    if r is None:
        r = w.config.resolved.get(key)
        if r is None or not lookup.still_valid(r, w.files):
            r = lookup.search(w.chain, len(w.config.quote_dirs), w.cwd, name, start, w.files)
            w.config.resolved[key] = r
        w.resolutions[key] = r
    if w.rec is not None:
        for d, names in r.probes:
            w.rec.read("d", d, names)
        w.rec.absent.extend(r.absent)
    w.absent.update(r.absent)
    return r.found


def _dir_sysp(w: _Walk, d: object) -> bool:
    if isinstance(d, int):
        return w.chain[d] in w.config.system_dirs and d >= len(w.config.quote_dirs)
    if isinstance(d, tuple):
        return w.cur_dirs.get(d[1], False)
    return False
