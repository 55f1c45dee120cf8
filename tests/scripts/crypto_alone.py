"""Runs crypto's unit tests with no Django and no groupie app importable: crypto is a library.

Any import of django, groupie, messages or webhooks (by crypto or by those tests) fails. Run by
tests/test_layers.py as its own process; exits with pytest's code.
"""

from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("django", "groupie", "messages", "webhooks", "rest_framework")
# In tests/crypto/.
CRYPTO_TESTS = ("test_envelope.py", "test_ttl_cache.py", "test_local_keyring.py")


class Forbid(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"crypto must not need {name}")


if __name__ == "__main__":
    sys.meta_path.insert(0, Forbid())
    tests = Path(__file__).resolve().parent.parent
    sys.exit(
        pytest.main(
            [
                "-q",
                "-p",
                "no:django",
                "-p",
                "no:env",
                "-p",
                "no:cacheprovider",
                "--noconftest",
                "-c",
                str(tests / "scripts" / "crypto_alone.ini"),
                "--rootdir",
                str(tests.parent),
                *(str(tests / "crypto" / name) for name in CRYPTO_TESTS),
            ]
        )
    )
