"""Starts the Firestore emulator (npm @firestore-emulator/server, pinned in tests/firestore/)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent.parent / "firestore" / "launch.js"


class EmulatorMissing(RuntimeError):
    pass


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    node = shutil.which("node")
    modules = LAUNCHER.parent / "node_modules" / "@firestore-emulator" / "server"
    if node is None or not modules.is_dir():
        raise EmulatorMissing(
            "the Firestore emulator is not installed: run `npm ci --prefix tests/firestore`"
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [node, str(LAUNCHER), str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    while time.monotonic() < deadline:
        if process.stdout.readline().strip() == b"ready":
            return process, f"127.0.0.1:{port}"
    process.kill()
    raise EmulatorMissing("the Firestore emulator did not start")
