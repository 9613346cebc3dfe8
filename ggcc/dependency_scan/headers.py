"""The files a compile reads, from the compiler's own -M, and the user's depfile.

The scan runs the host compiler with the user's flags and ``-M`` (every
header, system ones included) on the host tree, so the list is exactly what
the compile will open. When the user asked for a dependency file (-MD or
-MMD), the same kind of run writes it, with the same -MF/-MT/-MQ/-MP
options the driver would have given cc1: a depfile made in the sandbox
would name sandbox paths and wrap its lines differently, so this one,
made where the build tool will read it, is the exact one.

A faster scanner of its own is a later step; this one costs what
``gcc -M`` costs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass

from ggcc.launcher.args import Compile


@dataclass(frozen=True)
class Scan:
    files: tuple[str, ...]  # source and headers, as the compiler named them
    depfile_tmp: str  # the user's depfile, written beside its target; "" if none
    search_dirs: tuple[str, ...] = ()  # the include search list, in order (from -v)


class ScanFailed(Exception):
    """The compiler could not list the dependencies (it will say why itself)."""


def parse_depfile(text: str) -> list[str]:
    """Prerequisites of the first rule of a make depfile (gcc's escaping)."""
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    first = text.split("\n", 1)[0]
    # The target ends at the first ':' that is not escaped and not a drive
    # letter; gcc escapes ':' nowhere in targets it writes with -MQ, so the
    # first ': ' or ':' at end of the target word is the separator.
    colon = _rule_colon(first)
    deps_text = first[colon + 1:]
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


def scan(compiler: str, comp: Compile, cwd: str, env: dict[str, str]) -> Scan:
    """Run the dependency scan; ScanFailed if the compiler refuses."""
    base = [compiler] + [a for a in comp.args if a != "-c"]
    targets: list[str] = []
    for opt, t in comp.deps.targets:
        targets += [opt, t]
    if not targets:
        targets = ["-MQ", comp.output]  # what the driver gives cc1 for -MD
    with tempfile.TemporaryDirectory(prefix="ggcc-scan-") as tmp:
        full = os.path.join(tmp, "all.d")
        log = _run(base + ["-v", "-M", "-MF", full, "-MQ", "x"], cwd, env)
        with open(full, encoding="utf-8", errors="surrogateescape") as f:
            files = parse_depfile(f.read())
    search_dirs = parse_search_list(log)
    depfile_tmp = ""
    if comp.deps.kind:
        dest = os.path.join(cwd, comp.deps.file)
        d = os.path.dirname(dest) or "."
        fd, depfile_tmp = tempfile.mkstemp(dir=d, prefix=".ggcc-dep-")
        os.close(fd)
        flags = ["-M" if comp.deps.kind == "MD" else "-MM", "-MF", depfile_tmp, *targets]
        if comp.deps.phony:
            flags.append("-MP")
        if comp.deps.missing_ok:
            flags.append("-MG")
        try:
            _run(base + flags, cwd, env)
        except BaseException:
            os.unlink(depfile_tmp)
            raise
    return Scan(tuple(files), depfile_tmp, tuple(search_dirs))


def parse_search_list(log: str) -> list[str]:
    """The directories of '#include "..."' then '#include <...>', in order."""
    dirs: list[str] = []
    inside = False
    for line in log.splitlines():
        if line.startswith("#include ") and line.endswith("search starts here:"):
            inside = True
            continue
        if line.startswith("End of search list."):
            break
        if inside and line.startswith(" "):
            d = line.strip()
            if d.endswith(" (framework directory)"):
                continue
            if d not in dirs:
                dirs.append(d)
    return dirs


def _run(argv: list[str], cwd: str, env: dict[str, str]) -> str:
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ScanFailed(str(e)) from None
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        raise ScanFailed(err.strip().splitlines()[-1] if err.strip() else f"exit {p.returncode}")
    return err
