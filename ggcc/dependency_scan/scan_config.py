"""The compiler's side of a scan: predefined macros and the search list.

One run of the compiler per flag set, on an empty file of the source's
language, with the user's flags (-D, -U, -I, -std, -m..., everything):

    cc <flags> -E -dM -v -MD -MF deps -o macros empty.c

-dM gives every macro defined before the first line of a source (the
builtins, the -D/-U options, and the implicit <stdc-predef.h>); -v gives the
quote and bracket search lists as the compiler will use them (nonexistent
and duplicate directories already dropped); the depfile names the files
included implicitly before the source. A flag set is the whole command
with the source taken out, plus the working directory (relative -I paths)
and the environment variables the compiler reads search paths from.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import threading

from ggcc.dependency_scan.cpp_expr import CLANG_QUERIES, GCC_QUERIES, Macro
from ggcc.dependency_scan.directives import _define
from ggcc.dependency_scan.scan_cache import ScanCache
from ggcc.dependency_scan.scanner import Config, Unsupported
from ggcc.formats.compile import Compile

# Flags that change preprocessing in ways the scanner does not model.
_UNMODELLED = {
    "-include": "forced-include", "-imacros": "forced-include", "-traditional": "traditional-cpp",
    "-traditional-cpp": "traditional-cpp", "-trigraphs": "trigraphs", "-fpreprocessed": "preprocessed",
    "-fdirectives-only": "directives-only", "-I-": "split-include-path",
}
_UNMODELLED_PREFIX = (("-include", "forced-include"), ("-imacros", "forced-include"), ("-I=", "sysroot-include"),
                      ("-isystem=", "sysroot-include"), ("--include", "forced-include"))
_SEARCH_ENV = ("CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
               "COMPILER_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES")
_LANGS = {"c": ".c", "c++": ".cc", "assembler-with-cpp": ".S"}


def check_supported(comp: Compile, env: dict[str, str]) -> None:
    if comp.language not in _LANGS:
        raise Unsupported(f"language:{comp.language}")
    if comp.deps.missing_ok:
        raise Unsupported("missing-headers-ok")
    for a in comp.args:
        reason = _UNMODELLED.get(a)
        if reason is None:
            reason = next((r for p, r in _UNMODELLED_PREFIX if a.startswith(p)), None)
        if reason:
            raise Unsupported(reason)
    for v in _SEARCH_ENV:
        if env.get(v):
            raise Unsupported(f"env:{v}")


def config_for(compiler: str, comp: Compile, cwd: str, env: dict[str, str], cache: ScanCache) -> Config:
    """The configuration for this flag set: remembered, or one compiler run."""
    flags = [a for k, a in enumerate(comp.args) if k != comp.source_index and a != "-c"]
    try:
        st = os.stat(compiler if "/" in compiler else _which(compiler, env))
        sig = [st.st_ino, st.st_size, st.st_mtime_ns]
    except OSError:
        raise Unsupported("compiler-not-found") from None
    key = hashlib.sha256(json.dumps([compiler, sig, flags, comp.language, cwd,
                                     env.get("PATH", "")]).encode()).hexdigest()
    hit = cache.configs.get(key)
    # A search directory that was missing and now exists changes the list.
    if isinstance(hit, Config) and not any(os.path.isdir(os.path.join(cwd, d)) for d in hit.missing_dirs):
        return hit
    config = _run(compiler, comp, flags, cwd, env)
    cache.configs[key] = config
    return config


def _which(name: str, env: dict[str, str]) -> str:
    import shutil

    found = shutil.which(name, path=env.get("PATH"))
    if found is None:
        raise OSError(name)
    return found


def _run(compiler: str, comp: Compile, flags: list[str], cwd: str, env: dict[str, str]) -> Config:
    with tempfile.TemporaryDirectory(prefix="ggcc-scan-config-") as tmp:
        empty = os.path.join(tmp, "empty" + _LANGS[comp.language])
        open(empty, "wb").close()
        args = with_source(comp, empty)
        macros_out = os.path.join(tmp, "macros")
        deps_out = os.path.join(tmp, "deps")
        argv = [compiler, *args, "-E", "-dM", "-v", "-MD", "-MF", deps_out, "-MQ", "x", "-o", macros_out]
        try:
            p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            raise Unsupported("config-run-failed") from None
        if p.returncode != 0:
            raise Unsupported("config-run-failed")
        with open(macros_out, encoding="latin-1") as f:
            macros = parse_macros(f.read())
        with open(deps_out, encoding="utf-8", errors="surrogateescape") as f:
            from ggcc.dependency_scan.depfile import parse_depfile

            implicit = parse_depfile(f.read())[1:]
    log = p.stderr.decode("utf-8", "surrogateescape")
    quote, bracket, demoted = parse_search_lists(log)
    missing = tuple(line[len('ignoring nonexistent directory "'):-1] for line in log.splitlines()
                    if line.startswith('ignoring nonexistent directory "') and line.endswith('"'))
    preincludes: list[str] = []
    for path in implicit:
        if os.path.basename(path) != "stdc-predef.h":
            raise Unsupported("implicit-include")
        preincludes.append("stdc-predef.h")
    user = user_include_dirs(flags) - demoted
    system = frozenset(d for d in bracket if d not in user)
    clang = "__clang__" in macros
    asker = Asker(compiler, comp, cwd, env)
    return Config(tuple(quote), tuple(bracket), system, macros, tuple(preincludes),
                  CLANG_QUERIES if clang else GCC_QUERIES, "__cplusplus" in macros, "clang" if clang else "gcc",
                  asker.ask, missing_dirs=missing)


class Asker:
    """Answers __has_attribute(x), __has_builtin(x), __has_feature(x)... by asking the compiler.

    Each distinct question costs one preprocessor run, once per flag set;
    the answers are kept with the configuration.
    """

    def __init__(self, compiler: str, comp: Compile, cwd: str, env: dict[str, str]) -> None:
        self._compiler = compiler
        self._comp = comp
        self._suffix = _LANGS[comp.language]
        self._cwd = cwd
        self._env = env
        self._answers: dict[tuple[str, str], int | None] = {}
        self._lock = threading.Lock()

    def ask(self, name: str, operand: str) -> int | None:
        key = (name, operand)
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            self._answers[key] = answer = self._run(name, operand)
            return answer

    def _run(self, name: str, operand: str) -> int | None:
        if "\n" in operand or len(operand) > 300:
            return None
        with tempfile.TemporaryDirectory(prefix="ggcc-scan-ask-") as tmp:
            probe = os.path.join(tmp, "probe" + self._suffix)
            with open(probe, "w") as f:
                f.write(f"ggcc_answer {name}{operand}\n")
            argv = [self._compiler, *with_source(self._comp, probe)]
            try:
                p = subprocess.run(argv + ["-E", "-P", "-o", "-"], cwd=self._cwd, env=self._env,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                return None
        if p.returncode != 0:
            return None
        for line in p.stdout.decode("latin-1").splitlines():
            if line.startswith("ggcc_answer "):
                value = line[len("ggcc_answer "):].strip()
                try:
                    return int(value.rstrip("uUlL"), 0)
                except ValueError:
                    return None
        return None


def with_source(comp: Compile, path: str) -> list[str]:
    """The command's arguments with another file as the source, and no -c."""
    return [path if k == comp.source_index else a for k, a in enumerate(comp.args) if a != "-c"]


def parse_macros(text: str) -> dict[str, Macro]:
    out: dict[str, Macro] = {}
    for line in text.splitlines():
        if line.startswith("#define "):
            d = _define(line[8:])
            if d is not None:
                out[d[1]] = d[2]
    return out


def parse_search_lists(log: str) -> tuple[list[str], list[str], set[str]]:
    """(-iquote dirs, bracket dirs, -I dirs gcc dropped as duplicates of system dirs)."""
    quote: list[str] = []
    bracket: list[str] = []
    demoted: set[str] = set()
    target: list[str] | None = None
    last_dup = ""
    for line in log.splitlines():
        if line.startswith('ignoring duplicate directory "'):
            last_dup = line[len('ignoring duplicate directory "'):-1]
            continue
        if "non-system directory that duplicates a system directory" in line and last_dup:
            demoted.add(last_dup)
            continue
        if line.startswith('#include "..." search starts here:'):
            target = quote
            continue
        if line.startswith("#include <...> search starts here:"):
            target = bracket
            continue
        if line.startswith("End of search list."):
            break
        if target is not None and line.startswith(" "):
            d = line[1:]
            if d.endswith(" (framework directory)"):
                continue
            target.append(d)
    return quote, bracket, demoted


def user_include_dirs(flags: list[str]) -> set[str]:
    """The -I directories as written: gcc does not treat them as system ones."""
    out: set[str] = set()
    i = 0
    while i < len(flags):
        a = flags[i]
        if a == "-I" and i + 1 < len(flags):
            out.add(flags[i + 1])
            i += 2
            continue
        if a.startswith("-I"):
            out.add(a[2:])
        i += 1
    return out
