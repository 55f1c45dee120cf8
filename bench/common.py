"""What the benchmarks share: their environment, the database, the gunicorn server, the results.

bench/ingest.py and bench/api_pages.py both run groupie as ``make run`` does (debug off) on a
throwaway SQLite database and keyring, or on an emptied PostgreSQL database whose name contains
'bench' (``--database-url``), and write their results as JSON under bench/results/. The pieces
here are the same for both; what differs (extra environment, output streams) is a parameter.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
RESULTS_DIR = ROOT / "bench" / "results"
HEALTHY_WITHIN = 30  # seconds
STOP_WAITS = ((signal.SIGTERM, 30), (signal.SIGKILL, 10))  # signal, seconds to wait after it

# -- command line --------------------------------------------------------------------------------


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL instead of a temporary SQLite file. The database is EMPTIED "
        "(manage.py flush); its name must contain 'bench'.",
    )


def check_database_url(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuses (exits with a usage error) a database that is not evidently a benchmark's."""
    if args.database_url and "bench" not in urlsplit(args.database_url).path:
        parser.error("--database-url: the database is flushed; use one whose name has 'bench'")


def command_line() -> str:
    """This run's command, as the results record it."""
    return shlex.join([sys.executable, *sys.argv])


def database_kind(database_url: str | None) -> str:
    return "postgresql" if database_url else "sqlite"


# -- environment and database --------------------------------------------------------------------


def bench_env(tmp: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """This process's environment without *_FILE secrets or a Prometheus directory, set up for a
    debug-off server on ``database_url`` (default: a SQLite file in ``tmp``) with a local keyring
    in ``tmp``; ``extra`` adds to it or overrides it."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DATABASE_URL=database_url or f"sqlite:///{tmp / 'groupie.db'}",
        LOCAL_KEYRING_PATH=str(tmp / "keyring.json"),
        GROUPIE_MEDIA_PATH=str(tmp / "media"),
        # One secret for every server of the run: API cursors are signed with it.
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48),
        WEBHOOK_SECRET=secrets.token_urlsafe(32),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_STATIC_FROM_FINDERS="1",  # no collectstatic: benches request no static file
        DJANGO_SETTINGS_MODULE="groupie.settings",
        # WARNING by default; GROUPIE_BENCH_LOG_LEVEL=INFO measures with an access line a request.
        GROUPIE_LOG_LEVEL=os.environ.get("GROUPIE_BENCH_LOG_LEVEL", "WARNING"),
        GROUPIE_STORE="orm",
        GROUPIE_KEYRING="local",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *command: str, capture: bool = False) -> str:
    """Runs a manage.py command; its output is returned with ``capture``, else printed ("")."""
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *command],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return done.stdout or ""


def migrate(env: dict[str, str], *, flush: bool = False, capture: bool = False) -> None:
    """Applies the migrations; with ``flush`` (a PostgreSQL run), then empties the database."""
    manage(env, "migrate", "--noinput", "-v0", capture=capture)
    if flush:
        manage(env, "flush", "--noinput", "-v0", capture=capture)


# -- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    pid: int  # also its process group: gunicorn runs in a session of its own
    workers: int = 0


@contextmanager
def running_server(
    env: dict[str, str], port: int, log_path: Path, *, tail_file: TextIO | None = None
) -> Iterator[Server]:
    """gunicorn as `make run` starts it; stopped (gracefully, then killed) whatever happens.

    Should anything fail meanwhile, the end of its log is printed to ``tail_file`` (stderr)."""
    command = [str(BIN / "gunicorn"), "groupie.wsgi", "-c", "gunicorn.conf.py"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(process, port)
        workers = log_path.read_text(errors="replace").count("Booting worker")
        yield Server(f"http://127.0.0.1:{port}", log_path, process.pid, workers)
    except BaseException:
        print_log_tail(log_path, file=tail_file)
        raise
    finally:
        stop(process)


def print_log_tail(log_path: Path, chars: int = 4000, file: TextIO | None = None) -> None:
    tail = log_path.read_text(errors="replace")[-chars:]
    print(f"gunicorn log (tail):\n{tail}", file=file or sys.stderr)


def wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    """Polls /healthz until it answers 200; fails after HEALTHY_WITHIN or if gunicorn exits."""
    deadline = time.monotonic() + HEALTHY_WITHIN
    while time.monotonic() < deadline and process.poll() is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become healthy on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets the workers finish in-flight requests; SIGKILL if that takes too long."""
    for sig, wait in STOP_WAITS:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- results -------------------------------------------------------------------------------------


def django_helper(module: str, env: dict[str, str], payload: Any, *args: str) -> dict[str, Any]:
    """Runs ``module.helper_main()`` in a subprocess, with Django set up on the benchmark's
    settings (``env``) and ``payload`` as JSON on its stdin; returns its last line, as JSON."""
    done = subprocess.run(
        [str(BIN / "python"), "-c", f"from {module} import helper_main; helper_main()", *args],
        cwd=ROOT,
        env=env,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} helper {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def write_results(summary: dict[str, Any], name: str) -> Path:
    """bench/results/<name>-<UTC time>.json; returns its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
