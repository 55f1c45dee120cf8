"""A manage.py command kept running beside the server: started again when it exits, stopped
with the server.

Used for ``poll_updates`` under ``make run`` (GROUPIE_POLLER=1): the poller stops for reasons
that can pass (a webhook was set, so Telegram refuses getUpdates; the network is down; the
database is not migrated yet), and nobody is watching the terminal to start it again. Each
exit is said in one line; the delay before the next start doubles up to a ceiling, and falls
back to the first once a run has lasted a while, so a refusal that lasts costs one line every
few minutes, not a loop of tracebacks.

gunicorn.conf.py runs this module as its own process (``python -m groupie.supervisor
poll_updates``), started from the master's main thread, not as a thread of the master: the
master reaps every child that exits (``waitpid(-1)``), which would steal the command's exit
from a thread waiting on it, and a thread's fork/exec racing the master's forks of workers can
leave that thread blocked for good on a pipe a worker inherited. No Django here.
"""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from groupie.logging import logging_config

ROOT = Path(__file__).resolve().parent.parent
MANAGE = str(ROOT / "manage.py")


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
        child's stdout and stderr go (default: this process's); ``env``: its environment
        (default: this process's)."""
        self.command = command
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.steady_after = steady_after
        self.logger = logger or logging.getLogger("groupie.supervisor")
        self.output = output
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.starts = 0
        self._lock = threading.Lock()  # no child is started once stopping is set
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.command[0]

    def start(self) -> None:
        """Runs the loop in a thread (tests); ``run()`` runs it in the caller's."""
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def run(self) -> None:
        delay = self.first_delay
        while True:
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

    def signal_stop(self) -> None:
        """Asks the command to stop and the loop not to start it again; waits for nothing, so
        a signal handler may call it."""
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()

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


def spawn(command: list[str]) -> subprocess.Popen[bytes]:
    """Starts ``python -m groupie.supervisor COMMAND...`` beside the caller (gunicorn's
    master); terminate it to stop the command."""
    return subprocess.Popen(  # noqa: S603 - this module, with our own command
        [sys.executable, "-m", "groupie.supervisor", *command], cwd=ROOT
    )


def main(argv: list[str]) -> None:
    logging.config.dictConfig(
        logging_config(
            log_format=os.environ.get("GROUPIE_LOG_FORMAT", "json"),
            level=os.environ.get("GROUPIE_LOG_LEVEL", "INFO"),
            project=os.environ.get("GCP_PROJECT_ID", ""),
        )
    )
    # GROUPIE_SUPERVISOR_DELAY: the first wait before a restart (tests make it short).
    first_delay = float(os.environ.get("GROUPIE_SUPERVISOR_DELAY", "5"))
    supervised = Supervised(argv, first_delay=first_delay)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: supervised.signal_stop())
    supervised.run()


if __name__ == "__main__":
    main(sys.argv[1:])
