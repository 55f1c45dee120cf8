"""On a SQLite file, concurrent writes are committed in groups, exactly once each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import ROOT


def test_concurrent_deliveries_are_group_committed_exactly_once(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'groupie.db'}",
        "LOCAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scripts" / "group_commit_scenario.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    originals, edits = seen["originals"], seen["edits"]
    assert seen["outcomes"]["created"] == originals + 5
    assert seen["outcomes"]["revised"] == edits
    assert seen["outcomes"]["duplicate"] == 2 * (originals + edits)
    assert seen["inside_atomic"] == "created"
    assert seen["after_rotation"] == {"created": 40}  # none refused, none failed
    assert seen["late_key_versions"] == [2]  # the rotated chat's late messages: the new key
    assert seen["messages"] == originals + 6 + 40
    assert seen["revisions"] == seen["versions"] == originals + 6 + 40 + edits
    assert seen["chat_message_count"] == originals + 6 + 40
    assert seen["largest_batch"] > 1  # writes were really grouped
    assert seen["errors"] == ["StoreError"]  # the failing write failed alone
