"""Starts a test peer written for node: a launcher script that takes a port as its first
argument and prints "ready" once it listens on 127.0.0.1."""

from __future__ import annotations

import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.gunicorn_server import free_port

STARTUP_SECONDS = 30
ATTEMPTS = 3


class PeerMissing(RuntimeError):
    pass


def start_peer(
    launcher: Path, *args: str, what: str, install: str
) -> tuple[subprocess.Popen[bytes], int]:
    """The peer's process and its port, once it has said "ready".

    Waits at most STARTUP_SECONDS: a peer that never says it is ready is killed, never waited
    on for ever. A peer that exits first (another process took the port between the probe
    and the peer's bind) is started again on another port; the last one's own error is in the
    exception."""
    node = shutil.which("node")
    if node is None or not (launcher.parent / "node_modules").is_dir():
        raise PeerMissing(f"{what} is not installed: run `{install}`")
    failure = ""
    for _ in range(ATTEMPTS):
        port = free_port()
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(
                [node, str(launcher), str(port), *args], stdout=subprocess.PIPE, stderr=stderr
            )
            if _said_ready(process):
                return process, port
            stop_peer(process)
            stderr.seek(0)
            failure = stderr.read()[-2000:].decode(errors="replace").strip()
    raise PeerMissing(f"{what} did not start: {failure or f'no ready in {STARTUP_SECONDS} s'}")


def _said_ready(process: subprocess.Popen[bytes]) -> bool:
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    buffered = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                continue
            chunk = process.stdout.read1(4096)  # type: ignore[attr-defined]
            if not chunk:  # the peer exited
                return False
            buffered += chunk
            if b"ready" in buffered.splitlines():
                return True
    return False


def stop_peer(process: subprocess.Popen[bytes]) -> None:
    """Stops the peer and closes its end of the pipe."""
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()
