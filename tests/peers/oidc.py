"""Starts the tests' OpenID provider (npm oidc-provider, pinned in tests/peers/oidc/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.peers.node import start_peer

LAUNCHER = Path(__file__).resolve().parent / "oidc" / "launch.mjs"


def start_provider(
    redirect_uri: str, client_id: str, client_secret: str
) -> tuple[subprocess.Popen[bytes], str]:
    """The provider's process and its issuer URL, once it listens on 127.0.0.1."""
    process, port = start_peer(
        LAUNCHER,
        redirect_uri,
        client_id,
        client_secret,
        what="the tests' OpenID provider",
        install="npm ci --prefix tests/peers/oidc",
    )
    return process, f"http://127.0.0.1:{port}"
