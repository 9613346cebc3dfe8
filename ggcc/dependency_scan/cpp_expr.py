"""Macro expansion and #if arithmetic, as far as choosing headers needs.

The scanner keeps a macro table (name -> Macro) and asks two things of it:
the value of a #if/#elif expression, and the header a computed #include
names. Both need real macro expansion: function-like macros, # and ##,
variadic arguments and __VA_OPT__, rescanning with hide sets (a macro is
not expanded again inside its own expansion).

What the scanner cannot know raises Undecidable, and the scanner then takes
every branch of that conditional: a macro whose value depends on an
undecidable branch (UNCERTAIN in the table), a builtin such as
__has_attribute whose answer only the compiler has, __LINE__ and friends,
or an expression the evaluator does not understand. Reading extra headers
is safe; missing one is not.

The arithmetic of an expanded #if is in cpp_arith.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ggcc.dependency_scan.cpp_arith import Undecidable, evaluate
from ggcc.dependency_scan.directives import TOKEN

# A macro: (parameters or None for object-like, body text). The last
# parameter "..." (or "name...") makes it variadic. Bodies are tokenized on
# first expansion and the tokens kept by text.
Macro = tuple[tuple[str, ...] | None, str]
UNCERTAIN: Macro = (None, "<uncertain>")
_TOKENS: dict[str, tuple[str, ...]] = {}  # macro bodies and #if expressions, by text


def tokens(text: str) -> tuple[str, ...]:
    toks = _TOKENS.get(text)
    if toks is None:
        toks = _TOKENS[text] = tuple(TOKEN.findall(text))
    return toks
MEMO_ENTRIES = 8  # remembered outcomes per #if expression
Remembered = tuple[tuple[tuple[str, "Macro | None"], ...], "bool | None"]  # (macros read, value)

# Macros with no fixed value: a #if that uses them is undecidable.
DYNAMIC = frozenset({"__FILE__", "__LINE__", "__COUNTER__", "__INCLUDE_LEVEL__", "__BASE_FILE__",
                     "__DATE__", "__TIME__", "__TIMESTAMP__", "__FILE_NAME__"})
# Function-like builtins only the compiler can answer (beyond __has_include).
GCC_QUERIES = frozenset({"__has_attribute", "__has_cpp_attribute", "__has_builtin", "__has_c_attribute"})
CLANG_QUERIES = GCC_QUERIES | frozenset({
    "__has_feature", "__has_extension", "__has_warning", "__has_declspec_attribute", "__is_identifier",
    "__is_target_arch", "__is_target_vendor", "__is_target_os", "__is_target_environment",
    "__has_constexpr_builtin", "__building_module",
})
_ALT_OPS = {"and": "&&", "or": "||", "not": "!", "not_eq": "!=", "bitand": "&", "bitor": "|",
            "xor": "^", "compl": "~", "and_eq": "&=", "or_eq": "|=", "xor_eq": "^="}
_EMPTY: frozenset[str] = frozenset()


HasInclude = Callable[[str, str, bool], bool]  # (form '<' or '"', name, is_next) -> found
Ask = Callable[[str, str], "int | None"]  # ("__has_attribute", "(noreturn)") -> the compiler's answer


class Expander:
    """Expands token lists against one macro table."""

    def __init__(self, macros: dict[str, Macro], queries: frozenset[str], has_include: HasInclude,
                 cplusplus: bool, ask: Ask | None = None, predefined: dict[str, Macro] | None = None,
                 memo: dict[object, list[object]] | None = None) -> None:
        self.macros = macros
        self.queries = queries  # builtins only the compiler can answer
        self.has_include = has_include
        self.cplusplus = cplusplus
        self.ask = ask
        self.predefined = predefined if predefined is not None else {}
        # #if outcomes by expression, each with the macros it read: valid
        # again when every one of them is the same definition (identity).
        self.memo: dict[object, list[Remembered]] = memo if memo is not None else {}  # type: ignore[assignment]
        self._reads: list[tuple[str, Macro | None]] = []
        self.last_reads: list[tuple[str, Macro | None]] | tuple[tuple[str, Macro | None], ...] = []
        self._cacheable = True

    def defined(self, name: str) -> bool:
        m = self.macros.get(name)
        self._reads.append((name, m))
        if m is UNCERTAIN:
            raise Undecidable(name)
        return m is not None or self.builtin_defined(name)

    def builtin_defined(self, name: str) -> bool:
        """Names `defined` is true for though they are not in the table."""
        return name in self.queries or name in ("__has_include", "__has_include_next") or name in DYNAMIC

    def expand(self, toks: Sequence[str], in_if: bool) -> list[str]:
        """Macro-expand toks; the macros read are in last_reads after."""
        self._reads = []
        try:
            return self._expand([(t, _EMPTY) for t in toks], in_if)
        finally:
            self.last_reads = self._reads

    def _expand(self, pairs: list[tuple[str, frozenset[str]]], in_if: bool) -> list[str]:
        stack = pairs[::-1]
        out: list[str] = []
        macros = self.macros
        while stack:
            t, hide = stack.pop()
            c = t[0]
            if not (c.isalpha() or c == "_" or c == "$"):
                out.append(t)
                continue
            if in_if:
                if t == "defined":
                    out.append("1" if self.defined(_defined_operand(stack)) else "0")
                    continue
                if t == "__has_include" or t == "__has_include_next":
                    out.append("1" if self._has_include(stack, t.endswith("next")) else "0")
                    continue
            if t in hide:
                out.append(t)
                continue
            m = macros.get(t)
            self._reads.append((t, m))
            if m is None:
                if in_if and t in self.queries:
                    out.append(self._query(t, stack))
                    continue
                if t in DYNAMIC:
                    raise Undecidable(t)
                out.append(t)
                continue
            if m is UNCERTAIN:
                raise Undecidable(t)
            params, text = m
            body = tokens(text)
            h = hide | {t}
            if params is None:
                new = _paste_all(list(body)) if "##" in body else body
                stack.extend((b, h) for b in reversed(new))
                continue
            if not stack or stack[-1][0] != "(":
                out.append(t)
                continue
            args = _collect_args(stack)
            new = self._substitute(params, body, args, in_if)
            stack.extend((b, h) for b in reversed(new))
        return out

    def _query(self, name: str, stack: list[tuple[str, frozenset[str]]]) -> str:
        """A builtin such as __has_attribute(x), answered by the compiler.

        The operand is sent as written; that is only the compiler's answer
        here if none of its words is a macro the scan defined itself.
        """
        if self.ask is None or not stack or stack[-1][0] != "(":
            raise Undecidable(name)
        args = _collect_args(stack)
        words = [p[0] for a in args for p in a]
        for w in words:
            m = self.macros.get(w)
            self._reads.append((w, m))
            if m is not None and m is not self.predefined.get(w):
                raise Undecidable(name)
        answer = self.ask(name, "(" + ", ".join(" ".join(p[0] for p in a) for a in args) + ")")
        if answer is None:
            raise Undecidable(name)
        return str(answer)

    def _has_include(self, stack: list[tuple[str, frozenset[str]]], is_next: bool) -> bool:
        self._cacheable = False  # the answer depends on the including file and the disk
        if not stack or stack.pop()[0] != "(":
            raise Undecidable("__has_include syntax")
        inner: list[str] = []
        while stack and stack[-1][0] != ")":
            inner.append(stack.pop()[0])
        if not stack:
            raise Undecidable("__has_include syntax")
        stack.pop()
        if len(inner) == 1 and inner[0].startswith('"') and inner[0].endswith('"'):
            return self.has_include('"', inner[0][1:-1], is_next)
        if len(inner) >= 2 and inner[0] == "<" and inner[-1] == ">":
            return self.has_include("<", "".join(inner[1:-1]), is_next)
        expanded = self._expand([(t, _EMPTY) for t in inner], False)  # a macro naming the header
        return self._has_include([(t, _EMPTY) for t in reversed(["(", *expanded, ")"])], is_next)

    def _substitute(self, params: tuple[str, ...], body: tuple[str, ...],
                    args: list[list[tuple[str, frozenset[str]]]], in_if: bool) -> list[str]:
        names = list(params)
        variadic = bool(names) and names[-1].endswith("...")
        if variadic:
            names[-1] = names[-1][:-3] or "__VA_ARGS__"
        if len(names) == 0 and args == [[]]:
            args = []
        if variadic and len(args) > len(names):
            rest = args[len(names) - 1:]
            joined: list[tuple[str, frozenset[str]]] = []
            for k, a in enumerate(rest):
                if k:
                    joined.append((",", _EMPTY))
                joined.extend(a)
            args = args[:len(names) - 1] + [joined]
        if variadic and len(args) == len(names) - 1:
            args = args + [[]]
        if len(args) != len(names):
            raise Undecidable("macro argument count")
        index = {n: k for k, n in enumerate(names)}
        expanded: dict[int, list[str]] = {}
        out: list[str] = []
        paste_next = False
        i = 0
        n = len(body)
        while i < n:
            t = body[i]
            if t == "#" and i + 1 < n and body[i + 1] in index:
                out.append(_stringify([p[0] for p in args[index[body[i + 1]]]]))
                i += 2
                continue
            if t == "##":
                paste_next = True
                i += 1
                continue
            if t == "__VA_OPT__" and variadic and i + 1 < n and body[i + 1] == "(":
                depth, j = 0, i + 1
                while j < n:
                    depth += body[j] == "("
                    depth -= body[j] == ")"
                    if depth == 0:
                        break
                    j += 1
                if args[-1]:
                    inner = self._substitute(params, body[i + 2:j], args, in_if)
                    out.extend(inner)
                i = j + 1
                continue
            if t in index:
                k = index[t]
                raw = paste_next or (i + 1 < n and body[i + 1] == "##")
                if raw:
                    toks = [p[0] for p in args[k]]
                    if paste_next and not toks and out and out[-1] == "," and variadic and k == len(names) - 1:
                        out.pop()  # GNU: ", ## __VA_ARGS__" with no arguments drops the comma
                        paste_next = False
                        i += 1
                        continue
                else:
                    if k not in expanded:
                        expanded[k] = self._expand(list(args[k]), in_if)
                    toks = expanded[k]
            else:
                toks = [t]
            if paste_next and out and toks:
                out[-1] = out[-1] + toks[0]
                out.extend(toks[1:])
            else:
                out.extend(toks)
            paste_next = False
            i += 1
        return out

    def evaluate(self, expr: str) -> bool:
        """The truth of a #if expression (Undecidable if it cannot tell)."""
        macros = self.macros
        seen = self.memo.get(expr)
        if seen is not None:
            for reads, known in seen:
                for n, m in reads:
                    if macros.get(n) is not m:
                        break
                else:
                    self.last_reads = reads
                    if known is None:
                        raise Undecidable("remembered")
                    return known
        self._cacheable = True
        value: bool | None
        try:
            value = self._evaluate(tokens(expr))
        except Undecidable:
            value = None
        reads = tuple(self.last_reads)
        self.last_reads = reads
        if self._cacheable:
            entries = self.memo.setdefault(expr, [])
            if len(entries) < MEMO_ENTRIES:
                entries.append((reads, value))
        if value is None:
            raise Undecidable("undecidable")
        return value

    def _evaluate(self, toks: Sequence[str]) -> bool:
        expanded = self.expand(toks, True)
        if self.cplusplus:
            expanded = [_ALT_OPS.get(t, t) for t in expanded]
        return evaluate(expanded, self.cplusplus)


def _defined_operand(stack: list[tuple[str, frozenset[str]]]) -> str:
    if not stack:
        raise Undecidable("defined without operand")
    t = stack.pop()[0]
    if t == "(":
        if not stack:
            raise Undecidable("defined syntax")
        name = stack.pop()[0]
        if not stack or stack.pop()[0] != ")":
            raise Undecidable("defined syntax")
        return name
    return t


def _collect_args(stack: list[tuple[str, frozenset[str]]]) -> list[list[tuple[str, frozenset[str]]]]:
    stack.pop()  # '('
    args: list[list[tuple[str, frozenset[str]]]] = [[]]
    depth = 0
    while stack:
        p = stack.pop()
        t = p[0]
        if t == "(":
            depth += 1
        elif t == ")":
            if depth == 0:
                return args
            depth -= 1
        elif t == "," and depth == 0:
            args.append([])
            continue
        args[-1].append(p)
    raise Undecidable("unterminated macro call")


def _paste_all(body: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "##" and out and i + 1 < len(body):
            out[-1] += body[i + 1]
            i += 2
            continue
        out.append(body[i])
        i += 1
    return out


def _stringify(toks: list[str]) -> str:
    """The # operator. Token lists do not keep the spaces between tokens, so
    a space goes only where two words meet (``a b``; ``sys/x.h`` stays
    whole). A header name spelled with other spaces comes out wrong, is not
    found, and the scan falls back to the compiler."""
    out: list[str] = []
    prev = ""
    for t in toks:
        if t[:1] in ('"', "'") or t[1:2] in ('"', "'"):
            t = t.replace("\\", "\\\\").replace('"', '\\"')
        if prev and (prev[-1].isalnum() or prev[-1] in "_$") and (t[0].isalnum() or t[0] in "_$"):
            out.append(" ")
        out.append(t)
        prev = t
    return '"' + "".join(out) + '"'
