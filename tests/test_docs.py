"""The README stays short and true: its length, every link, and its
settings table against the catalogue (ggcc/base/settings.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers import GGCC

from ggcc.base import settings

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_is_at_most_300_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_every_link_in_the_readme_and_docs_resolves() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        text = page.read_text()
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.exists(), f"{page.name}: {target}"
            if anchor and dest.suffix == ".md":
                headings = {_anchor(h) for h in re.findall(r"^#+ (.*)$", dest.read_text(), re.M)}
                assert anchor in headings, f"{page.name}: {target}"
            checked += 1
    assert checked > 15


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in (ROOT / "docs").glob("*.md"):
        assert f"(docs/{doc.name})" in readme, doc.name


def test_docs_settings_is_the_catalogue() -> None:
    table = subprocess.run(GGCC + ["config", "--markdown"], capture_output=True, text=True, check=True).stdout
    assert (ROOT / "docs" / "settings.md").read_text().endswith(table), "regenerate: ggcc config --markdown"


def test_the_readme_settings_table_agrees_with_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(GGCC_\w+)` \| .* \| (.*) \|$", section, re.M)
    assert len(rows) >= 6
    for name, default in rows:
        assert name in settings.BY_NAME, name
        assert default == (settings.BY_NAME[name].default or "-"), name
