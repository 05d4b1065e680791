"""The layering of the README's Layout, checked on the imports themselves: FastAPI only at the edge, SQLModel and
YAML only in directory/, joserfc only in tokens/, the protocol framework-free; the test toolkit (mockidp/testing/,
which alone may use PyJWT) is imported by no production module."""

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
    "jwt": ("testing",),  # PyJWT is the `testing` extra's: the product signs and checks with joserfc
}
# Inner layers never import outer ones.
INNER = {"oauth": ("web", "ui", "app", "cli"), "tokens": ("directory", "oauth", "web", "ui", "app", "cli"),
         "directory": ("tokens", "oauth", "web", "ui", "app", "cli"),
         "errors": ("directory", "tokens", "oauth", "web", "ui", "app", "cli"),
         # The toolkit checks the product from outside: it reads wire formats, never the product's code.
         "testing": ("directory", "tokens", "oauth", "web", "ui", "app", "cli", "errors", "clock", "settings")}


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


def _imports_testing(path: Path, package: tuple[str, ...]) -> bool:
    """Any spelling: import mockidp.testing[.x], from mockidp.testing[.x] import y, from mockidp import testing,
    and relative imports resolved against `package`, the module's own (from ..testing import x)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = list(package[:len(package) - node.level + 1]) if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        if any(m == "mockidp.testing" or m.startswith("mockidp.testing.") for m in modules):
            return True
    return False


def _package_of(path: Path) -> tuple[str, ...]:
    return ("mockidp", *path.relative_to(PACKAGE).parts[:-1])


@pytest.mark.parametrize("path", [m for m in MODULES if m.relative_to(PACKAGE).parts[0] != "testing"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_production_code_does_not_import_the_test_toolkit(path: Path) -> None:
    assert not _imports_testing(path, _package_of(path)), f"{path.relative_to(PACKAGE)} imports mockidp.testing"


@pytest.mark.parametrize("text", [
    "import mockidp.testing.entra\n", "from mockidp.testing import jwts\n", "from mockidp import testing\n",
    "from mockidp.testing.forms import pkce_pair\n", "from ..testing import entra\n", "from .. import testing\n",
    "def f() -> None:\n    from mockidp.testing.jwts import claims_of\n"])
def test_the_toolkit_check_sees_every_spelling_of_the_import(tmp_path: Path, text: str) -> None:
    """The check above would pass on a tree that imports nothing; here it meets each way to import."""
    module = tmp_path / "m.py"
    module.write_text(text)
    assert _imports_testing(module, ("mockidp", "web")), text


def test_the_toolkit_check_passes_other_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from mockidp.tokens import keys\nimport mockidp.testingly\nfrom . import testing\n")
    assert not _imports_testing(module, ("mockidp", "web", "routes"))  # ./testing there is mockidp.web.routes.testing
