"""The real server for tests that need it: gunicorn with the project's config, as production
starts it, on its own SQLite file and keyring."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_gunicorn(directory: Path, **settings: str) -> Iterator[str]:
    """Migrates, creates the keyring, starts gunicorn (log in ``directory/server.log``) and
    yields its base URL once /healthz answers; ``settings`` add to the environment."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'groupie.db'}",
        "LOCAL_KEYRING_PATH": str(directory / "keyring.json"),
        "GROUPIE_MEDIA_PATH": str(directory / "media"),
        "GROUPIE_LOG_LEVEL": "INFO",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        **settings,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "-v0"], ["init_keyring"]):
        subprocess.run([*manage, *command], env=env, check=True, capture_output=True)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with (directory / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [str(gunicorn), "groupie.wsgi", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")
