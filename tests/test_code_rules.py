"""Rules on the source itself: comments cite only what a maintainer of this repository has (its files,
docs/, the catalogue), and production code does not use `assert` for control flow (python -O strips it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "mockidp").rglob("*.py"))
# What a maintainer reads: the package, the tests and the documents (this file names the outside notes
# to refuse them; bench/run.py names the report it writes, which is no citation).
TESTS = [p for p in (ROOT / "tests").rglob("*.py") if "node_modules" not in p.parts]  # tests/<feature>/ too
SOURCES = sorted([*MODULES, *TESTS, *(ROOT / "tests" / "node").glob("*.mjs"),
                  ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SOURCES.remove(Path(__file__).resolve())
# A cited document (`docs/entra-behaviour.md#tokens`), and the outside reference notes by their bare names.
_CITED = re.compile(r"([\w./-]+\.md)(#[\w-]+)?")
_OUTSIDE = re.compile(r"\b(entra-wire|hostile-inputs|apim-and-identities)\b|\.\./shared")


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but - and _ dropped, spaces as hyphens."""
    heads = (line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#"))
    return {"#" + re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_citations_resolve_inside_the_repository(path: Path) -> None:
    text = path.read_text()
    outside = [m.group(0) for m in _OUTSIDE.finditer(text)]
    assert outside == [], f"{path.name} cites notes outside the repository: {outside}"
    for m in _CITED.finditer(text):
        doc = path.parent / m.group(1)  # relative to the citing file (docs/README.md), else to the root
        doc = doc if doc.is_file() else ROOT / m.group(1)
        assert doc.is_file(), f"{path.name} cites {m.group(1)}, not a file of the repository"
        if m.group(2):
            assert m.group(2) in _anchors(doc), f"{path.name} cites {m.group(0)}: no such section"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_assert_in_production_code(path: Path) -> None:
    lines = [node.lineno for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
    assert lines == [], f"{path.name} uses assert at lines {lines}"


def test_docs_are_indexed_and_linked_from_the_readme() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if doc.name != "README.md":
            assert f"({doc.name})" in index, f"docs/README.md does not list {doc.name}"
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    assert "docs/" in layout
