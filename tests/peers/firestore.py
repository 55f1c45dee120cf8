"""Starts the Firestore emulator (npm @firestore-emulator/server, pinned in tests/firestore/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.peers.node import start_peer

LAUNCHER = Path(__file__).resolve().parent.parent / "firestore" / "launch.js"


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    """The emulator's process and its host:port, once it listens on 127.0.0.1."""
    process, port = start_peer(
        LAUNCHER,
        what="the Firestore emulator",
        install="npm ci --prefix tests/firestore",
    )
    return process, f"127.0.0.1:{port}"
