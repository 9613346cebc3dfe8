"""A compile ggcc can run as a thunk, as the argument parser
(launcher/args.py) reads it: what the scanner, the thunk builder and the
delivery of its outputs share."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class DepOptions:
    """-MD/-MMD and friends: how the user wants the dependency file."""

    kind: str = ""  # "", "MD" (all headers) or "MMD" (user headers only)
    file: str = ""  # -MF, or derived from -o
    targets: tuple[tuple[str, str], ...] = ()  # ("-MT"|"-MQ", target) in order
    phony: bool = False  # -MP
    missing_ok: bool = False  # -MG


@dataclass(frozen=True)
class Compile:
    """A single-source compile ggcc can run as a thunk."""

    args: tuple[str, ...]  # the user's arguments, without dependency options
    source: str  # as written on the command line
    source_index: int  # its position in args
    output: str  # -o, or the default name
    language: str
    deps: DepOptions
    include_dirs: tuple[str, ...] = ()  # -I/-isystem/-iquote/-idirafter, as written
    path_args: tuple[tuple[int, str, str], ...] = ()  # (index, option, path) of path-valued args
    natives: tuple[int, ...] = field(default=())  # indices of -march=native and friends

    def with_extra_flag(self, flag: str) -> Compile:
        """The same compile with one more flag at the end (indices stay valid)."""
        return replace(self, args=self.args + (flag,))
