"""Starts the tests' OpenID provider (npm oidc-provider, pinned in tests/peers/oidc/)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "oidc" / "launch.mjs"


class ProviderMissing(RuntimeError):
    pass


def start_provider(
    redirect_uri: str, client_id: str, client_secret: str
) -> tuple[subprocess.Popen[bytes], str]:
    """The provider's process and its issuer URL, once it listens on 127.0.0.1."""
    node = shutil.which("node")
    modules = LAUNCHER.parent / "node_modules" / "oidc-provider"
    if node is None or not modules.is_dir():
        raise ProviderMissing(
            "the tests' OpenID provider is not installed: run `npm ci --prefix tests/peers/oidc`"
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [node, str(LAUNCHER), str(port), redirect_uri, client_id, client_secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == b"ready":
            return process, f"http://127.0.0.1:{port}"
        if not line and process.poll() is not None:
            break
    process.kill()
    raise ProviderMissing("the tests' OpenID provider did not start")
