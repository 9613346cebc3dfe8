"""fib(N) as a dynamic graph of thunks, forced on the local engine.

    python examples/fib.py 20

Each call of ``fib`` is a thunk that returns either a number or another
thunk (``add`` of two smaller fibs), so the graph unfolds while it runs.
Run it twice: the second run is answered from the cache.
"""

from __future__ import annotations

import sys

from ggcc import api


@api.function
def add(a: int, b: int) -> int:
    return a + b


@api.function
def fib(n: int) -> int | api.Lazy:
    if n < 2:
        return n
    return add(fib(n - 1), fib(n - 2))


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.stderr.write("usage: python examples/fib.py N   (N a whole number, e.g. 20)\n")
        return 2
    n = int(sys.argv[1])
    value, report = api.force_with_report(fib(n))
    print(value)
    sys.stderr.write(f"fib({n}): {report.executed} thunks run, {report.hits} answered from the cache\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
