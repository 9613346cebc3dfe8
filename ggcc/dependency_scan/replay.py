"""Remembering what walking one header did, so the next scan can replay it.

Most of a scan is the same system and project headers walked again with
the same macros. When a header is walked, a Recorder notes everything the
walk looked at from outside (macros it read before defining them, whether
a file was already #pragma once, which directory listings and file
contents the lookups depended on) and everything it did (macros defined
and undefined, files entered, dependencies listed, paths found missing).
The Summary is kept with the flag set, under the header's content id,
path and includer state. A later walk of the same header whose recorded
reads all still hold (macros by identity, files by content id, listings
by identity) applies the effects instead of walking: the result is the
one the walk would give, because the walk is a function of those reads.

Reads are only recorded the first time, and not after the walk itself
wrote the thing read: those are internal. A nested header's summary,
replayed or recorded, is merged into its includer's recorder the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ggcc.dependency_scan.cpp_expr import Macro

MAX_SUMMARIES = 4  # per header and includer state

Read = tuple[str, str, object]  # (kind, key, value): kinds m, o, c, f, d (see Recorder)
Identity = tuple[str, object]
Stack = tuple[Identity, str, bool, bool]  # (identity, path, system header, entered on an uncertain branch)


@dataclass
class Recorder:
    """Kinds of reads: "m" macro -> definition (or None), "o" content id ->
    already #pragma once, "c" current-directory name -> its interned sysp
    (or None), "f" host path -> content id, "d" directory -> listing."""

    reads: list[Read] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    macro_writes: dict[str, Macro | None] = field(default_factory=dict)
    once_adds: list[str] = field(default_factory=list)
    cur_adds: list[tuple[str, bool]] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)
    files: dict[str, None] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    inexact: bool = False
    unmemo: bool = False  # the walk depended on something not recorded: keep no summary
    depth: int = 0

    def read(self, kind: str, key: str, value: object) -> None:
        k = (kind, key)
        if k not in self.seen:
            self.seen.add(k)
            self.reads.append((kind, key, value))

    def wrote(self, kind: str, key: str) -> None:
        self.seen.add((kind, key))

    def merge(self, s: Recorder | Summary) -> None:
        """What a nested header read and did, as part of this walk."""
        for kind, key, value in s.reads:
            self.read(kind, key, value)
        writes = s.macro_writes if isinstance(s, Recorder) else {**s.defines, **dict.fromkeys(s.undefs)}
        for name, m in writes.items():
            self.wrote("m", name)
            self.macro_writes[name] = m
        for cid in s.once_adds:
            self.wrote("o", cid)
            self.once_adds.append(cid)
        for d, sysp in s.cur_adds:
            self.wrote("c", d)
            self.cur_adds.append((d, sysp))
        self.stacks.extend(s.stacks)
        self.files.update(dict.fromkeys(s.files))
        self.absent.extend(s.absent)
        self.inexact = self.inexact or s.inexact
        self.unmemo = self.unmemo or (isinstance(s, Recorder) and s.unmemo)
        self.depth = max(self.depth, s.depth + 1)

    def summary(self) -> Summary:
        defines = {k: m for k, m in self.macro_writes.items() if m is not None}
        undefs = tuple(k for k, m in self.macro_writes.items() if m is None)
        return Summary(tuple(self.reads), defines, undefs, tuple(self.once_adds),
                       tuple(self.cur_adds), tuple(self.stacks), tuple(self.files), tuple(self.absent),
                       self.inexact, self.depth)


@dataclass(frozen=True)
class Summary:
    reads: tuple[Read, ...]
    defines: dict[str, Macro]  # final definitions (applied with one dict update)
    undefs: tuple[str, ...]  # names left undefined
    once_adds: tuple[str, ...]
    cur_adds: tuple[tuple[str, bool], ...]
    stacks: tuple[Stack, ...]
    files: tuple[str, ...]
    absent: tuple[str, ...]
    inexact: bool
    depth: int
