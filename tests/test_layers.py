"""The layer rule holds: imports flow one way, webhooks -> messages -> crypto.

``groupie`` (settings and shared plumbing) may be imported by every app, and imports no app
except from ``groupie/urls.py``. No function-level import of our own packages: one that exists
is almost always dodging a cycle, a sign the code sits in the wrong room.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("crypto", "messages", "webhooks")
OURS = (*APPS, "groupie")
# What each package may import of ours, besides itself.
ALLOWED = {
    "crypto": set(),
    "messages": {"crypto", "groupie"},
    "webhooks": {"messages", "crypto", "groupie"},
    "groupie": set(),
}
URLCONF = Path("groupie/urls.py")


def _modules() -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for package in OURS
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def _imports(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, top-level package, inside a function) for every import in ``tree``."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name.split(".")[0], in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.lineno, child.module.split(".")[0], in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def violations(root: Path, modules: list[Path]) -> list[str]:
    problems = []
    for module in modules:
        package = module.parts[0]
        tree = ast.parse((root / module).read_text(encoding="utf-8"), str(module))
        for line, imported, in_function in _imports(tree):
            if imported not in OURS or imported == package:
                if in_function and imported in OURS:
                    problems.append(f"{module}:{line}: function-level import of {imported}")
                continue
            if module == URLCONF:
                continue
            if imported not in ALLOWED[package]:
                problems.append(f"{module}:{line}: {package} imports {imported}")
            elif in_function:
                problems.append(f"{module}:{line}: function-level import of {imported}")
    return problems


def test_imports_flow_one_way() -> None:
    assert violations(ROOT, _modules()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("crypto/chatkeys.py", "from messages import stores\n", "crypto imports messages"),
        ("messages/services.py", "import webhooks.updates\n", "messages imports webhooks"),
        ("groupie/health.py", "from messages import sealing\n", "groupie imports messages"),
        (
            "crypto/services.py",
            "def f():\n    from messages.stores import get_store\n",
            "crypto imports messages",
        ),
        (
            "messages/services.py",
            "def f():\n    from crypto import envelope\n",
            "function-level import of crypto",
        ),
        (
            "webhooks/views.py",
            "def f():\n    from webhooks import updates\n",
            "function-level import of webhooks",
        ),
    ],
)
def test_the_walk_names_the_file_and_line_of_a_violation(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text("from __future__ import annotations\n" + source, encoding="utf-8")
    [problem] = violations(tmp_path, [Path(module)])
    assert problem.startswith(f"{module}:2") or problem.startswith(f"{module}:3")
    assert problem.endswith(expected)


def test_the_urlconf_may_import_the_apps(tmp_path: Path) -> None:
    path = tmp_path / URLCONF
    path.parent.mkdir(parents=True)
    path.write_text("from webhooks.views import telegram_webhook\n", encoding="utf-8")
    assert violations(tmp_path, [URLCONF]) == []


def test_crypto_runs_its_unit_tests_without_django_or_any_app() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scripts" / "crypto_alone.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
    assert "error" not in result.stdout.splitlines()[-1]
