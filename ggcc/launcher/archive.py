"""``ggcc ar ...`` and ``ggcc ranlib ...``: static archives as thunks.

GNU ar on Debian writes deterministic archives (mode 644, uid and gid 0,
mtime 0: the 'D' modifier is its default), so an archive made in a sandbox
from the same members in the same order is byte-identical to the one made
in place. ggcc models the operations build systems use: ``r`` and ``q``
(with modifiers c, s, S, D, v) and ``ranlib``. Anything else (extraction,
listing, 'u' which compares timestamps, 'U' which records them, thin
archives, plugins) runs the real tool, with the reason counted.

An archive that already exists is both an input and the output (ar edits
it), and the executor gives such a file to the command as a private copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ggcc.launcher.request import Local

_AR_NAMES = ("ar", "x86_64-linux-gnu-ar")
_RANLIB_NAMES = ("ranlib", "x86_64-linux-gnu-ranlib")
_AR_OPS = "rq"
_AR_MODIFIERS = "csSDv"


@dataclass(frozen=True)
class ArchiveCommand:
    tool: str  # "ar" or "ranlib"
    flags: tuple[str, ...]  # as given, before the archive
    archive: str
    members: tuple[str, ...]


def is_archiver(name: str) -> bool:
    base = os.path.basename(name)
    return base in _AR_NAMES or base in _RANLIB_NAMES


def parse(tool_name: str, argv: list[str]) -> ArchiveCommand | Local:
    """Classify ar/ranlib arguments (argv without the tool itself)."""
    if any(a.startswith("@") for a in argv):
        return Local("response-file")
    base = os.path.basename(tool_name)
    if base in _RANLIB_NAMES:
        flags = [a for a in argv if a.startswith("-")]
        files = [a for a in argv if not a.startswith("-")]
        if any(f not in ("-D",) for f in flags) or len(files) != 1:
            return Local("ranlib-unsupported")
        return ArchiveCommand("ranlib", tuple(flags), files[0], ())
    if not argv:
        return Local("ar-no-arguments")
    key = argv[0].lstrip("-")
    if argv[0].startswith("--") or not key:
        return Local("ar-unsupported-option")
    # 's' is an operation alone (ranlib's job) and a modifier after r or q.
    ops = [c for c in key if c in "dmpqrtx"] or [c for c in key if c == "s"]
    if len(ops) != 1 or ops[0] not in _AR_OPS:
        return Local("ar-unsupported-operation")
    if any(c not in _AR_OPS + _AR_MODIFIERS for c in key):
        return Local("ar-unsupported-modifier")
    rest = argv[1:]
    if not rest or any(a.startswith("-") for a in rest):
        return Local("ar-unsupported-option")
    return ArchiveCommand("ar", (argv[0],), rest[0], tuple(rest[1:]))
