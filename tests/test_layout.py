"""The house keeps its shape: the folders of ggcc/ stand in the layers the
README's Layout section lists (each imports only from those below it, so
no import circle can form between them), and no module grows past 500
lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "ggcc"


def _layers() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^ggcc/(\w+)[/.]", section, re.M)


def _folder(module: str) -> str | None:
    """The README's name for a ggcc module's place: its folder, or the top
    module itself (main); None for the package face."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ggcc."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ggcc":
                found.update(f"ggcc.{a.name}" for a in node.names if (PKG / a.name).exists()
                             or (PKG / f"{a.name}.py").exists())
            elif node.module.startswith("ggcc."):
                found.add(node.module)
    return found


def test_every_folder_imports_only_from_the_layers_below_it() -> None:
    layers = _layers()
    assert layers[:2] == ["main", "commands"] and layers[-1] == "base", layers
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(layers), f"a folder missing from the README's Layout: {folders - set(layers)}"
    rank = {name: i for i, name in enumerate(layers)}
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        here = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if here not in rank:
            continue  # the package face, api.py and its runner sit above every layer
        for module in _imports(path):
            there = _folder(module)
            if there is not None and there != here and there in rank and rank[there] <= rank[here]:
                wrong.append(f"{rel} imports {module}")
    assert not wrong, wrong


def test_no_module_is_over_500_lines() -> None:
    long = [f"{p.relative_to(ROOT)}: {n}" for p in sorted(PKG.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 500]
    assert not long, long
