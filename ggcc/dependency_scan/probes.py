"""What a compile may have looked for and not read, when the compiler's own
-M listed its inputs (the own scanner records this as it walks): the paths
that would shadow a header it read, and every path an ``__has_include`` in
those files may have probed. A direct-mode record must see these stay
absent, and probed files that exist are inputs (a sandbox without them
would answer the test differently).
"""

from __future__ import annotations

import os
import re

# A __has_include operand: <name>, "name", or anything else (a macro: which
# file it names is not known without the preprocessor).
_HAS_INCLUDE = re.compile(rb'__has_include(?:_next)?\s*\(\s*(?:<([^>\n]*)>|"([^"\n]*)"|([^)\n]*))')


def looked_for(files: list[str], search_dirs: list[str], cwd: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(probed files that exist and were not read, paths that must stay
    absent), for a compile that read ``files``. None: an operand that is not
    a literal name, or a file that cannot be read (nothing can vouch for
    what it probed).

    Over-inclusive on purpose: every probe in the files, its branch taken
    or not, looked up in the includer's directory and then the whole search
    list. One too many makes a record stricter; one too few would let a
    header that appears later be missed."""
    dirs = [os.path.normpath(os.path.join(cwd, d)) for d in search_dirs]
    read = {os.path.normpath(os.path.join(cwd, f)) for f in files}
    probed: set[str] = set()
    for path in sorted(read):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if b"__has_include" not in data:
            continue
        for m in _HAS_INCLUDE.finditer(data):
            name = os.fsdecode((m.group(1) or m.group(2) or b"").strip())
            if not name:
                return None  # a macro, or nothing
            if name.startswith("/"):
                probed.add(os.path.normpath(name))
            else:
                probed.update(os.path.normpath(os.path.join(d, name)) for d in [os.path.dirname(path), *dirs])
    present, absent = [], set(absent_candidates(files, search_dirs, cwd))
    for path in sorted(probed - read):
        if not os.path.lexists(path):
            absent.add(path)
        elif os.path.isfile(path):
            present.append(path)
        else:
            return None  # a directory or a device: nothing to hash
    return tuple(present), tuple(sorted(absent))


def absent_candidates(files: list[str], search_dirs: list[str], cwd: str) -> list[str]:
    """Paths that would shadow a found header if they appeared."""
    dirs = [os.path.normpath(os.path.join(cwd, d)) for d in search_dirs]
    found = [os.path.normpath(os.path.join(cwd, f)) for f in files]
    present = set(found)
    out: set[str] = set()
    project: list[tuple[str, str]] = []  # (dir, name) of headers outside the search list
    for path in found:
        for k, d in enumerate(dirs):
            if path.startswith(d + "/"):
                name = path[len(d) + 1:]
                out.update(os.path.join(earlier, name) for earlier in dirs[:k])
                break
        else:
            project.append((os.path.dirname(path), os.path.basename(path)))
    project_dirs = {d for d, _ in project}
    for d, name in project:
        out.update(os.path.join(pd, name) for pd in project_dirs if pd != d)
    return sorted(p for p in out if p not in present and not os.path.lexists(p))
