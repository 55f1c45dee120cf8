"""A manage.py command kept running beside the server: gunicorn's master starts it as a child
process, starts it again when it exits, and stops it with the server (gunicorn.conf.py).

Used for ``poll_updates`` under ``make run`` (GROUPIE_POLLER=1): the poller stops for good
reasons that can pass (a webhook was set, so Telegram refuses getUpdates; the network is down;
the database is not migrated yet), and nobody is watching the terminal to start it again.
Each exit is said in one line; the delay before the next start doubles up to a ceiling, and
falls back to the first once a run has lasted a while, so a refusal that lasts costs one line
every few minutes, not a loop of tracebacks. No Django here: it runs in gunicorn's master.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

MANAGE = str(Path(__file__).resolve().parent.parent / "manage.py")


class Supervised:
    def __init__(
        self,
        command: list[str],
        *,
        first_delay: float = 5.0,
        max_delay: float = 300.0,
        steady_after: float = 60.0,
        logger: logging.Logger | None = None,
        output: IO[Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``command``: manage.py's arguments, e.g. ["poll_updates"]. ``output``: where the
        child's stdout and stderr go (default: the server's own); ``env``: its environment
        (default: the server's)."""
        self.command = command
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.steady_after = steady_after
        self.logger = logger or logging.getLogger("gunicorn.error")
        self.output = output
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.starts = 0
        self._lock = threading.Lock()  # no child is started once stop() has begun
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.command[0]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name=self.name, daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        delay = self.first_delay
        while not self.stopping.is_set():
            with self._lock:
                if self.stopping.is_set():
                    return
                started = time.monotonic()
                process = self.process = subprocess.Popen(  # noqa: S603 - our own manage.py
                    [sys.executable, MANAGE, *self.command],
                    stdout=self.output,
                    stderr=self.output,
                    env=self.env,
                )
                self.starts += 1
            code = process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started >= self.steady_after:
                delay = self.first_delay
            self.logger.warning(
                "%s stopped (exit code %s; its last lines say why); starting it again in %.0f s",
                self.name,
                code,
                delay,
            )
            self.stopping.wait(delay)
            delay = min(delay * 2, self.max_delay)

    def stop(self, timeout: float = 15.0) -> None:
        with self._lock:
            self.stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
