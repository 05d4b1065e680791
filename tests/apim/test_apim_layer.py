"""mockidp/apim/ stays framework-free: the gateway to come wraps it, tests and `mockidp policy check` call it
directly. It may use the standard library, defusedxml and cryptography, and nothing of mockidp's outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APIM = Path(__file__).resolve().parents[2] / "mockidp" / "apim"
ALLOWED_THIRD_PARTY = {"defusedxml", "cryptography"}
FORBIDDEN_MOCKIDP = {"web", "ui", "app", "cli", "directory", "oauth", "testing", "settings"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("relative")
    return names


def _problems(path: Path) -> list[str]:
    out = []
    for name in sorted(_imports(path)):
        root = name.split(".")[0]
        if name == "relative":
            out.append("a relative import (spell mockidp.apim.x, so this check sees it)")
        elif root == "mockidp":
            part = name.split(".")[1] if "." in name else ""  # "from mockidp import x" hides x: refused
            if part in FORBIDDEN_MOCKIDP or not part:
                out.append(name)
        elif root not in ALLOWED_THIRD_PARTY and root not in _stdlib():
            out.append(name)
    return out


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.parametrize("path", sorted(APIM.glob("*.py")), ids=lambda p: p.name)
def test_apim_imports_only_the_standard_library_defusedxml_and_cryptography(path: Path) -> None:
    assert _problems(path) == [], f"mockidp/apim/{path.name} imports {_problems(path)}"


@pytest.mark.parametrize("text", ["import fastapi\n", "from mockidp.web import flows\n", "import yaml\n",
                                  "from mockidp import app\n", "from . import policy\n", "import joserfc\n"])
def test_the_check_sees_each_forbidden_import(tmp_path: Path, text: str) -> None:
    module = tmp_path / "m.py"
    module.write_text(text)
    assert _problems(module) != [], text
