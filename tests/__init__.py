"""groupie's test suite: a package, so tests import their helpers as ``tests.conftest``,
``tests.peers`` or one another's, and the same file name may appear in two folders."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository, wherever a test file sits
