"""The layer rule holds: imports flow one way, webhooks -> messages -> crypto.

``groupie`` (settings and shared plumbing) may be imported by every app, and imports no app
except from ``groupie/urls.py``. No function-level import of our own packages: one that exists
is almost always dodging a cycle, a sign the code sits in the wrong room.

Inside ``messages/`` the same rule holds between its layers (``MESSAGES_LAYERS``): a module
imports its own layer or lower ones, never a higher one, and the admin never imports the API
(both are surfaces over the same actions). Every module of ``messages/`` has a layer, so a new
one must be placed before it can be imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from fnmatch import fnmatchcase
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

# The layers inside messages/, lowest first. A module's layer is the one of the longest dotted
# prefix listed here (a trailing * matches the rest of a name); a module may import its own
# layer and lower ones.
FOUNDATION, STORES, READING, SEARCH_MEDIA, KEYS, ACTIONS, SURFACES = range(7)
LAYER_NAMES = ("foundation", "stores", "reading", "search/media", "keys", "actions", "surfaces")
MESSAGES_LAYERS = {
    # The archive's vocabulary: plain dataclasses, models, encodings, the audit log.
    "messages": FOUNDATION,  # the package's __init__
    "messages.models": FOUNDATION,
    "messages.stores.records": FOUNDATION,
    "messages.telegram": FOUNDATION,
    "messages.telegram_events": FOUNDATION,
    "messages.outcome": FOUNDATION,  # what an action reports or refuses
    "messages.sortkey": FOUNDATION,
    "messages.cursors": FOUNDATION,
    "messages.audit": FOUNDATION,
    "messages.access": FOUNDATION,  # who may read which chat; which chats are held
    "messages.outage": FOUNDATION,
    # The store contract, its backends, and what stands directly on a store.
    "messages.stores": STORES,
    "messages.sealing": STORES,
    "messages.pagination": STORES,
    "messages.health": STORES,
    # The read path: opening sealed records and shaping them for a reader.
    "messages.reading": READING,
    "messages.telegram_desktop*": READING,  # the Desktop export format, read and written
    "messages.templatetags": READING,
    "messages.search": SEARCH_MEDIA,
    "messages.media": SEARCH_MEDIA,
    "messages.transparency": SEARCH_MEDIA,  # the archive log
    "messages.keys": KEYS,
    # Operator and write actions over all of the above.
    "messages.services": ACTIONS,
    "messages.importing": ACTIONS,
    "messages.legacy_import": ACTIONS,
    "messages.exporting": ACTIONS,
    "messages.retention": ACTIONS,
    "messages.purging": ACTIONS,
    "messages.apikeys": ACTIONS,
    "messages.grants": ACTIONS,
    "messages.legal_hold": ACTIONS,
    "messages.actions": ACTIONS,
    "messages.transparency.actions": ACTIONS,
    # What people and programs touch: nothing below imports these.
    "messages.api": SURFACES,
    "messages.admin": SURFACES,
    "messages.management": SURFACES,
    "messages.apps": SURFACES,
    "messages.signin": SURFACES,  # single sign-on: the admin's way in
}


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


def dotted(module: Path) -> str:
    parts = module.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(name: str) -> str:
    """The part of messages a dotted name belongs to: ``messages.api.auth`` -> ``api``."""
    return name.split(".")[1] if name.count(".") else ""


def layer_of(name: str) -> int | None:
    """The layer of module ``name`` inside messages/ (None if no prefix of it is listed)."""
    if name == "messages":
        return MESSAGES_LAYERS[name]
    parts = name.split(".")
    for end in range(len(parts), 1, -1):  # "messages" alone is the package, not a prefix
        prefix = ".".join(parts[:end])
        for pattern, layer in MESSAGES_LAYERS.items():
            if prefix == pattern or (pattern.endswith("*") and fnmatchcase(prefix, pattern)):
                return layer
    return None


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) for every absolute import of messages in ``tree``.

    ``from messages.x import y`` also names ``messages.x.y`` (y may be a module); its layer is
    the deepest one listed, so importing a name from a package counts as its own layer."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "messages"
            )
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "messages"
        ):
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def layer_violations(root: Path, modules: list[Path]) -> list[str]:
    """Imports inside messages/ that go from a lower layer up, or from the admin to the API."""
    problems = []
    for module in modules:
        if module.parts[0] != "messages":
            continue
        name = dotted(module)
        own = layer_of(name)
        if own is None:
            problems.append(f"{module}: no layer in MESSAGES_LAYERS")
            continue
        tree = ast.parse((root / module).read_text(encoding="utf-8"), str(module))
        for line, imported in _imported_names(tree):
            target = layer_of(imported)
            if target is not None and target > own:
                problems.append(
                    f"{module}:{line}: {LAYER_NAMES[own]} imports {imported} "
                    f"({LAYER_NAMES[target]})"
                )
            elif _package(name) == "admin" and _package(imported) == "api":
                problems.append(f"{module}:{line}: the admin imports the API ({imported})")
    return problems


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


def test_every_module_of_messages_has_a_layer() -> None:
    unplaced = [
        str(module)
        for module in _modules()
        if module.parts[0] == "messages" and layer_of(dotted(module)) is None
    ]
    assert unplaced == []


def test_imports_inside_messages_follow_its_layers() -> None:
    assert layer_violations(ROOT, _modules()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "messages/stores/orm.py",
            "from messages.reading import opening\n",
            "stores imports messages.reading.opening (reading)",
        ),
        (
            "messages/services.py",
            "from messages.api.auth import allowed_chats\n",
            "actions imports messages.api.auth.allowed_chats (surfaces)",
        ),
        (
            "messages/models.py",
            "import messages.keys.actions\n",
            "foundation imports messages.keys.actions (keys)",
        ),
        (
            "messages/stores/records.py",
            "from messages import sealing\n",
            "foundation imports messages.sealing (stores)",
        ),
        (
            "messages/admin/browser.py",
            "from messages.api.auth import allowed_chats\n",
            "the admin imports the API (messages.api.auth.allowed_chats)",
        ),
        (
            "messages/telegram_desktop_format.py",
            "from messages.services import archive\n",
            "reading imports messages.services.archive (actions)",
        ),
        ("messages/novel.py", "import json\n", "messages/novel.py: no layer in MESSAGES_LAYERS"),
    ],
)
def test_the_layer_walk_names_the_file_and_line_of_an_upward_import(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text("from __future__ import annotations\n" + source, encoding="utf-8")
    [problem] = layer_violations(tmp_path, [Path(module)])
    assert problem.endswith(expected)
    assert problem.startswith(f"{module}:2:") or "no layer" in problem


def test_same_and_lower_layer_imports_pass(tmp_path: Path) -> None:
    path = tmp_path / "messages" / "reading" / "opening.py"
    path.parent.mkdir(parents=True)
    path.write_text(
        "from messages import sealing\nfrom messages.reading import fields\n"
        "from messages.stores.records import ChatRecord\n",
        encoding="utf-8",
    )
    assert layer_violations(tmp_path, [Path("messages/reading/opening.py")]) == []


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
