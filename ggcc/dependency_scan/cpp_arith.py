"""The arithmetic of a #if expression once its macros are expanded
(cpp_expr.py expands them): C's operators and precedence, in intmax_t /
uintmax_t (64 bits), where an operation with an unsigned operand is
unsigned, as in C. What it does not understand raises Undecidable: the
scanner then takes every branch.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1


class Undecidable(Exception):
    """The scanner cannot tell; take both branches (or fall back)."""


def evaluate(expanded: list[str], cplusplus: bool) -> bool:
    """Whether the expanded #if expression is true."""
    parser = _Parser(expanded, cplusplus)
    value, _ = parser.expression()
    if parser.pos != len(expanded):
        raise Undecidable("trailing tokens")
    return value != 0


_BINARY: dict[str, int] = {
    "*": 10, "/": 10, "%": 10, "+": 9, "-": 9, "<<": 8, ">>": 8,
    "<": 7, ">": 7, "<=": 7, ">=": 7, "==": 6, "!=": 6,
    "&": 5, "^": 4, "|": 3, "&&": 2, "||": 1,
}
Value = tuple[int, bool]  # (value, unsigned)


class _Parser:
    def __init__(self, toks: list[str], cplusplus: bool) -> None:
        self.toks = toks
        self.pos = 0
        self.cplusplus = cplusplus

    def _peek(self) -> str:
        return self.toks[self.pos] if self.pos < len(self.toks) else ""

    def _take(self) -> str:
        if self.pos >= len(self.toks):
            raise Undecidable("unexpected end of #if")
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def expression(self) -> Value:
        v = self._conditional()
        while self._peek() == ",":
            self.pos += 1
            v = self._conditional()
        return v

    def _conditional(self) -> Value:
        cond = self._binary(1)
        if self._peek() != "?":
            return cond
        self.pos += 1
        a = self.expression()
        if self._take() != ":":
            raise Undecidable("?: syntax")
        b = self._conditional()
        unsigned = a[1] or b[1]
        v = a[0] if cond[0] else b[0]
        return (v & _MASK if unsigned else v), unsigned

    def _binary(self, min_prec: int) -> Value:
        left = self._unary()
        while True:
            op = self._peek()
            prec = _BINARY.get(op, 0)
            if prec < min_prec or prec == 0:
                return left
            self.pos += 1
            right = self._binary(prec + 1)
            left = _apply(op, left, right)

    def _unary(self) -> Value:
        t = self._take()
        if t == "(":
            inner = self.expression()
            if self._take() != ")":
                raise Undecidable("missing )")
            return inner
        if t == "!":
            return int(self._unary()[0] == 0), False
        if t == "-":
            x, u = self._unary()
            return ((-x) & _MASK if u else -x), u
        if t == "+":
            return self._unary()
        if t == "~":
            x, u = self._unary()
            return ((~x) & _MASK if u else ~x), u
        return self._primary(t)

    def _primary(self, t: str) -> Value:
        c = t[0]
        if c.isdigit() or (c == "." and len(t) > 1):
            return _number(t)
        if c == "'" or (t[1:2] == "'" and c in "uUL"):
            return _char(t), False
        if c.isalpha() or c == "_" or c == "$":
            if self.cplusplus and t in ("true", "false"):
                return int(t == "true"), False
            return 0, False  # an identifier that is not a macro
        raise Undecidable(f"token {t!r} in #if")


def _number(t: str) -> Value:
    s = t.replace("'", "")
    suffix_start = len(s)
    while suffix_start > 0 and s[suffix_start - 1] in "uUlL":
        suffix_start -= 1
    digits, suffix = s[:suffix_start], s[suffix_start:]
    try:
        if digits[:2] in ("0x", "0X"):
            v = int(digits[2:], 16)
        elif digits[:2] in ("0b", "0B"):
            v = int(digits[2:], 2)
        elif len(digits) > 1 and digits[0] == "0":
            v = int(digits, 8)
        else:
            v = int(digits, 10)
    except ValueError:
        raise Undecidable(f"number {t!r}") from None
    unsigned = "u" in suffix or "U" in suffix or v > 0x7FFFFFFFFFFFFFFF
    return v & _MASK, unsigned


_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12, "v": 11, "?": 63}


def _char(t: str) -> int:
    body = t[t.index("'") + 1:-1]
    if len(body) == 1:
        return ord(body)
    if len(body) == 2 and body[0] == "\\" and body[1] in _ESCAPES:
        return _ESCAPES[body[1]]
    raise Undecidable(f"character constant {t}")


def _apply(op: str, a: Value, b: Value) -> Value:
    if op == "&&":
        return int(a[0] != 0 and b[0] != 0), False
    if op == "||":
        return int(a[0] != 0 or b[0] != 0), False
    unsigned = a[1] or b[1]
    x, y = a[0], b[0]
    if unsigned:
        x &= _MASK
        y &= _MASK
    if op in ("<", ">", "<=", ">=", "==", "!="):
        r = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y, "==": x == y, "!=": x != y}[op]
        return int(r), False
    if op in ("/", "%"):
        if y == 0:
            raise Undecidable("division by zero")
        q = abs(x) // abs(y)
        if (x < 0) != (y < 0):
            q = -q
        v = q if op == "/" else x - q * y
    elif op == "*":
        v = x * y
    elif op == "+":
        v = x + y
    elif op == "-":
        v = x - y
    elif op == "<<":
        v = x << (y & 63)
    elif op == ">>":
        v = x >> (y & 63)
    elif op == "&":
        v = x & y
    elif op == "^":
        v = x ^ y
    else:
        v = x | y
    if unsigned:
        return v & _MASK, True
    v &= _MASK
    return (v - (1 << 64) if v >> 63 else v), False
