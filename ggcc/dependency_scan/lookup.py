"""Finding a header the way libcpp does, with answers kept across scans.

A lookup starts in a *start directory* and walks the chain after it: the
including file's own directory for "..." (then the -iquote dirs and the
bracket dirs), the first bracket directory for <...>, the directory after
the includer's for #include_next, nothing for an absolute name.

libcpp knows a file by (name as written, start directory), and a search
that passes the head of the quote or the bracket chain shares its answer
with lookups starting there. So a file's identity, which decides whether
it is listed again in a depfile, is (name, the last chain head the search
passed), or (name, start) if it passed none. This is why gcc lists
``sub/a.h`` twice when it is reached as "sub/a.h" from one file and as
"a.h" from another.

Answers are kept per flag set (Config.resolved) with every directory
listing the search looked at; one is used again only while each of those
listings is the very same object, which the scan cache replaces when a
directory changes (scan_cache.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Found:
    path: str  # as libcpp spells it: directory + "/" + name
    dir: object  # where: chain index, ("cur", dir name) or "abs"
    identity: tuple[str, object]  # libcpp's _cpp_file: listed in a depfile once per identity


@dataclass(frozen=True)
class Resolution:
    found: Found | None
    probes: tuple[tuple[str, frozenset[str]], ...]  # (directory, its listing) for every place looked
    absent: tuple[str, ...]  # host paths looked for and missing, before the answer


class Listings(Protocol):
    def listing(self, d: str) -> frozenset[str]: ...


def host(cwd: str, path: str) -> str:
    return path if path.startswith("/") else os.path.join(cwd, path)


def dir_name(path: str) -> str:
    """libcpp's dir_name_of_file: everything up to and including the last '/'."""
    return path[:path.rfind("/") + 1]


def join(d: str, name: str) -> str:
    """libcpp's append_file_to_dir."""
    if not d:
        return name
    return d + name if d.endswith("/") else d + "/" + name


def next_dir(chain: tuple[str, ...], d: object) -> object:
    if isinstance(d, int):
        return d + 1 if d + 1 < len(chain) else None
    return 0 if chain else None  # after the current directory comes the quote chain


def search(chain: tuple[str, ...], bracket_head: int, cwd: str, name: str, start: object,
           files: Listings) -> Resolution:
    """Walk the chain from start; the first directory holding name wins."""
    heads = (0, bracket_head)
    last_head = start if isinstance(start, int) and start in heads else None
    probes: list[tuple[str, frozenset[str]]] = []
    absent: list[str] = []
    d: object = start
    while True:
        path = name if d == "abs" else join(chain[d] if isinstance(d, int) else d[1], name)  # type: ignore[index]
        full = host(cwd, path)
        slash = full.rfind("/")
        parent = full[:slash] or "/"
        names = files.listing(parent)
        probes.append((parent, names))
        if full[slash + 1:] in names:
            identity = (name, last_head if last_head is not None else start)
            return Resolution(Found(path, d, identity), tuple(probes), tuple(absent))
        absent.append(full)
        if d == "abs":
            break
        d = next_dir(chain, d)
        if d is None:
            break
        if isinstance(d, int) and d in heads:
            last_head = d
    return Resolution(None, tuple(probes), tuple(absent))


def still_valid(r: Resolution, files: Listings) -> bool:
    return all(files.listing(d) is names for d, names in r.probes)
