"""Building thunk graphs in Python: a decorated function becomes a thunk.

    from ggcc import api

    @api.function
    def add(a: int, b: int) -> int:
        return a + b

    @api.function
    def fib(n: int) -> int | api.Lazy:
        if n < 2:
            return n
        return add(fib(n - 1), fib(n - 2))   # a thunk: the graph grows at run time

    print(api.force(fib(30)))

Calling a decorated function runs nothing: it returns a ``Lazy``, a thunk
whose output will be the function's result. Arguments may be JSON values,
other ``Lazy`` results (the thunk then depends on them) or ``File(path)``
(a host file, passed to the function as a path). A function that returns a
``Lazy`` makes a dynamic graph: ggcc forces what it returned, until a value
comes out. Results are JSON, cached by thunk id like any other thunk.

Each thunk runs ``python -m ggcc.api_runner`` in the sandbox with the
function's module file and the few ggcc modules it needs as inputs. The
interpreter is an input by hash; its standard library comes from the host's
installation, named in the thunk's environment (PYTHONHOME), so these
thunks run where that same Python is installed. The function's module must
import only the standard library and ggcc.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ggcc.formats.thunk import Input, Output, Thunk

# The ggcc modules a thunk needs to run the runner (api imports only these).
RUNTIME_MODULES = ("__init__.py", "api.py", "api_runner.py", "formats/__init__.py", "formats/ids.py", "formats/thunk.py")
CONTEXT_ENV = "GGCC_API_INPUTS"
PY_BIN = ".ggcc/bin/python"
OUT = "out"


@dataclass(frozen=True)
class Lazy:
    """The result of a function call not yet run: a thunk's output."""

    thunk: Thunk

    @property
    def id(self) -> str:
        return self.thunk.id


@dataclass(frozen=True)
class File:
    """A host file passed to a function; it receives the file's path."""

    path: str


# Every thunk made in this process, so they can be stored before forcing
# (on the host) or handed to ggcc as new thunks (inside a sandbox).
_created: dict[str, Thunk] = {}


class _Context:
    """The inputs every API thunk shares: interpreter, runtime, environment."""

    def __init__(self, inputs: list[Input], env: dict[str, str]) -> None:
        self.inputs = inputs
        self.env = env
        self.file_ids: dict[str, str] = {}  # module file path -> value id

    @staticmethod
    def current() -> _Context:
        global _context
        if _context is None:
            _context = _Context.from_env() if CONTEXT_ENV in os.environ else _Context.from_host()
        return _context

    @staticmethod
    def from_env() -> _Context:
        """Inside a sandbox: the context the running thunk was made with."""
        spec = json.loads(os.environ[CONTEXT_ENV])
        inputs = [Input(p, r, x) for p, r, x in spec["inputs"]]
        return _Context(inputs, dict(spec["env"]))

    @staticmethod
    def from_host() -> _Context:
        from ggcc.base import config
        from ggcc.storage.hash_cache import HashCache

        hashes = HashCache(config.ggcc_dir())
        pkg = os.path.dirname(os.path.abspath(__file__))
        python = os.path.realpath(sys.executable)
        inputs = [Input(PY_BIN, hashes.file_id(python), True)]
        host_paths = {PY_BIN: python}
        for name in RUNTIME_MODULES:
            src = os.path.join(pkg, name)
            inputs.append(Input(f"py/ggcc/{name}", hashes.file_id(src)))
            host_paths[f"py/ggcc/{name}"] = src
        home = sys.base_prefix if sys.base_prefix == sys.base_exec_prefix else f"{sys.base_prefix}:{sys.base_exec_prefix}"
        env = {
            "PYTHONHOME": home,
            # Relative to the root (the command's cwd): no absolute path may
            # leak into a thunk, or nested thunks would differ run to run.
            "PYTHONPATH": "py",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        ctx = _Context(inputs, env)
        ctx.host_paths = host_paths  # type: ignore[attr-defined]
        ctx.hashes = hashes  # type: ignore[attr-defined]
        return ctx

    def module_input(self, module_name: str, path: str) -> Input:
        dest = f"py/{module_name}.py"
        vid = self.file_ids.get(path)
        if vid is None:
            hashes = getattr(self, "hashes", None)
            if hashes is not None:
                vid = hashes.file_id(path)
                self.host_paths[dest] = path  # type: ignore[attr-defined]
            else:
                from ggcc.formats.ids import hash_file

                vid = hash_file(path)
            self.file_ids[path] = vid
        return Input(dest, vid)


_context: _Context | None = None


class ThunkFunction:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)
        mod = sys.modules[fn.__module__]
        path = getattr(mod, "__file__", None)
        if path is None:
            raise TypeError(f"{fn.__qualname__}: an api.function must be defined in a module file")
        self.module_path = os.path.abspath(path)
        # A script run as __main__ is imported under its file name in the
        # sandbox, so host and sandbox make the same thunks.
        self.module_name = fn.__module__ if fn.__module__ != "__main__" else os.path.splitext(os.path.basename(path))[0]

    def __call__(self, *args: Any) -> Lazy:
        ctx = _Context.current()
        inputs = list(ctx.inputs)
        inputs.append(ctx.module_input(self.module_name, self.module_path))
        spec: list[dict[str, Any]] = []
        for i, a in enumerate(args):
            if isinstance(a, Lazy):
                inputs.append(Input(f"args/{i}", a.id))
                spec.append({"t": f"args/{i}"})
            elif isinstance(a, File):
                dest = f"files/{i}/{os.path.basename(a.path)}"
                inputs.append(_file_input(ctx, a.path, dest))
                spec.append({"f": dest})
            else:
                json.dumps(a)  # TypeError now, not inside the sandbox
                spec.append({"v": a})
        env = dict(ctx.env)
        env[CONTEXT_ENV] = json.dumps(
            {"inputs": [[i.path, i.ref, i.executable] for i in ctx.inputs], "env": ctx.env},
            sort_keys=True,
            separators=(",", ":"),
        )
        program = inputs[0]
        thunk = Thunk.make(
            program,
            ["python", "-s", "-S", "-m", "ggcc.api_runner", self.module_name, self.fn.__qualname__,
             json.dumps(spec, sort_keys=True, separators=(",", ":"))],
            env,
            inputs[1:],
            [Output(OUT, OUT)],
        )
        _created[thunk.id] = thunk
        return Lazy(thunk)


def _file_input(ctx: _Context, path: str, dest: str) -> Input:
    hashes = getattr(ctx, "hashes", None)
    if hashes is None:
        raise TypeError("api.File arguments can only be made on the host")
    vid = hashes.file_id(path)
    ctx.host_paths[dest] = os.path.abspath(path)  # type: ignore[attr-defined]
    return Input(dest, vid)


def function(fn: Callable[..., Any]) -> ThunkFunction:
    """Make ``fn`` a thunk function: calling it builds a thunk."""
    return ThunkFunction(fn)


def force_with_report(lazy: Lazy, jobs: int | None = None, quiet: bool = True) -> tuple[Any, Any]:
    """Force ``lazy`` on the local engine; (decoded result, ForceReport)."""
    from ggcc.base import config
    from ggcc.base.errors import GgccError
    from ggcc.commands import progress
    from ggcc.engines.local import LocalEngine
    from ggcc.engines.scheduler import force as force_refs
    from ggcc.storage.local_store import LocalStore

    store = LocalStore(config.ggcc_dir())
    ctx = _Context.current()
    for dest, path in getattr(ctx, "host_paths", {}).items():
        store.put_file(path, ctx.hashes.file_id(path))  # type: ignore[attr-defined]
    for thunk in _created.values():
        store.put_thunk(thunk)
    engine = LocalEngine(store, jobs or config.default_jobs(), strict=config.strict_sandbox())
    listener = progress.make_progress(quiet)
    try:
        report = force_refs([lazy.id], store, engine, listener, dict(_created))
    finally:
        progress.close(listener)
        engine.shutdown()
    if not report.ok:
        f = report.failures[0]
        detail = f.result.stderr.decode(errors="replace").strip().splitlines()[-1:] if f.result else []
        raise GgccError(f"thunk {f.thunk_id} failed: {f.message}" + (f": {detail[0]}" if detail else ""))
    value = report.values[lazy.id]
    return json.loads(store.read_bytes(value.ref)), report


def force(lazy: Lazy, jobs: int | None = None, quiet: bool = True) -> Any:
    return force_with_report(lazy, jobs, quiet)[0]
