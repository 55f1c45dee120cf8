"""The tests' node peers (the Firestore emulator, the OpenID provider) start within a deadline
or fail with the peer's own error: a peer that never says "ready" costs seconds, not the
test's whole timeout, and a port taken between the probe and the peer's bind is tried again."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.peers import node

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def launcher(tmp_path: Path, script: str) -> Path:
    (tmp_path / "node_modules").mkdir()
    path = tmp_path / "launch.js"
    path.write_text(script, encoding="utf-8")
    return path


def test_a_peer_that_never_says_ready_is_stopped_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node, "STARTUP_SECONDS", 1)
    monkeypatch.setattr(node, "ATTEMPTS", 1)
    silent = launcher(tmp_path, 'console.log("starting"); setInterval(() => {}, 1000);')
    began = time.monotonic()
    with pytest.raises(node.PeerMissing, match="the silent peer did not start: no ready in 1 s"):
        node.start_peer(silent, what="the silent peer", install="nothing")
    assert time.monotonic() - began < 10


def test_a_peer_that_exits_is_tried_again_and_its_error_reported(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    failing = launcher(
        tmp_path,
        f'require("fs").appendFileSync({str(starts)!r}, "x");'
        'console.error("listen EADDRINUSE: address already in use"); process.exit(1);',
    )
    with pytest.raises(node.PeerMissing, match="did not start: listen EADDRINUSE"):
        node.start_peer(failing, what="the failing peer", install="nothing")
    assert starts.read_text() == "x" * node.ATTEMPTS


def test_a_peer_that_says_ready_is_running_on_its_port(tmp_path: Path) -> None:
    listening = launcher(
        tmp_path,
        'require("net").createServer().listen(Number(process.argv[2]), "127.0.0.1", '
        '() => console.log("ready"));',
    )
    process, port = node.start_peer(listening, what="the peer", install="nothing")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        assert process.poll() is None
    finally:
        node.stop_peer(process)
    assert process.returncode is not None
    assert process.stdout is not None
    assert process.stdout.closed


def test_a_missing_peer_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(node.PeerMissing, match=r"is not installed: run `npm ci --prefix x`"):
        node.start_peer(tmp_path / "launch.js", what="the peer", install="npm ci --prefix x")
