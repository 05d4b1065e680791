"""The layering of the README's Layout, checked on the imports themselves: FastAPI only at the edge, SQLModel and
YAML only in directory/, joserfc only in tokens/, the protocol framework-free."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mockidp"
RULES = {  # third-party root -> the only places allowed to import it
    "fastapi": ("web", "app.py"),
    "starlette": ("web", "app.py"),
    "jinja2": ("ui",),
    "sqlmodel": ("directory",),
    "sqlalchemy": ("directory",),
    "yaml": ("directory",),
    "joserfc": ("tokens",),
    "uvicorn": ("web/serving.py",),
    "httptools": ("web/serving.py",),
    "uvloop": ("web/serving.py",),
}
# Inner layers never import outer ones.
INNER = {"oauth": ("web", "ui", "app", "cli"), "tokens": ("directory", "oauth", "web", "ui", "app", "cli"),
         "directory": ("tokens", "oauth", "web", "ui", "app", "cli"),
         "errors": ("directory", "tokens", "oauth", "web", "ui", "app", "cli")}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_the_layers(path: Path) -> None:
    where = path.relative_to(PACKAGE).parts
    for name in _imports(path):
        root = name.split(".")[0]
        if root in RULES:
            assert where[0] in RULES[root] or "/".join(where) in RULES[root], f"{'/'.join(where)} imports {name}"
        if root == "mockidp" and len(name.split(".")) > 1:
            target = name.split(".")[1]
            assert target not in INNER.get(where[0], ()), f"{'/'.join(where)} imports {name}"
