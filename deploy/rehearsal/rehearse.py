"""make canary-rehearsal: the canary analysis of deploy/clouddeploy.yaml, rehearsed here.

    python deploy/rehearsal/rehearse.py [--scenario good|errors|slow|refused|all|custom]
                                        [--canary-env "K=V ..."]

Two real revisions of groupie under gunicorn (stable groupie-00001-sta, canary
groupie-00002-can) share one SQLite archive, as Cloud Run revisions share Firestore; the front
end of frontend.py sends them a Telegram-shaped load at 5, 25, 50, then 100 % to the canary;
Debian's Prometheus scrapes both revisions (adding, by relabelling, the labels the Managed
Prometheus sidecar adds: service_name, revision_name, configuration_name, namespace, cluster)
and the front end's Cloud Run metrics, and evaluates deploy/monitoring/alerts.rules.yml with
every duration divided by FACTOR (compress.py). Each phase lasts the analysis' 600 s / FACTOR;
a firing rule of the group groupie-canary fails it, as an open incident fails Cloud Deploy's
analysis, and the release is rolled back. One line per scenario:

    scenario NAME: promoted
    scenario NAME: rolled back at N % after S s (alert: RULE)

Exit status 0 only when every named scenario got its expected verdict (custom has none).
Every process started here is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compress import DEFAULT_INTERVAL, RULES, compress, scaled
from frontend import FrontEnd, Revision

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"

# One factor for every duration: the rules' windows and `for:`, the evaluation intervals, the
# scrape interval, the health checks' period and the phases' analysis.
FACTOR = 10
ANALYSIS = 600 / FACTOR  # deploy/clouddeploy.yaml's analysis.duration, 600 s
SCRAPE_REAL = "10s"  # the sidecar's scrape interval (RunMonitoring endpoints[].interval)
PROBE = 10 / FACTOR  # a health check every 10 s
PHASES = (5, 25, 50)  # deploy/clouddeploy.yaml's canary percentages, then 100
RATE = 10.0  # deliveries per second, all revisions together
WARM_UP = 3.0  # seconds of stable-only traffic first: the archive's chats and keys exist
SERVICE = "groupie"
STABLE, CANARY = "groupie-00001-sta", "groupie-00002-can"
SLOW_NETWORK = 6.0  # seconds the slow scenario's network adds to each canary answer


@dataclass
class Scenario:
    name: str
    expected: str | None  # "promoted", "rolled back", or None (custom)
    env: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    about: str = ""


def scenarios(work: Path, canary_env: dict[str, str]) -> dict[str, Scenario]:
    return {
        "good": Scenario("good", "promoted", about="the same release as stable"),
        "errors": Scenario(
            "errors",
            "rolled back",
            {"LOCAL_KEYRING_PATH": str(work / "other-deployment-keyring.json")},
            about="started with another deployment's keyring: answers 503",
        ),
        "slow": Scenario(
            "slow", "rolled back", delay=SLOW_NETWORK, about="a slow network: +6 s per answer"
        ),
        "refused": Scenario(
            "refused",
            "rolled back",
            {"WEBHOOK_SECRET": "wrong"},
            about="a wrong WEBHOOK_SECRET: refuses every delivery with 403",
        ),
        "custom": Scenario("custom", None, canary_env, about=f"CANARY_ENV {canary_env}"),
    }


class Processes:
    """What this run started, each in its own process group, stopped by its own id."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def base_env(work: Path, secret: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "WEBHOOK_SECRET": secret,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{work / 'archive.db'}",
        "LOCAL_KEYRING_PATH": str(work / "keyring.json"),
        "GROUPIE_LOG_FORMAT": "json",
        "GROUPIE_FETCH_MEDIA": "0",
        "DJANGO_STATIC_FROM_FINDERS": "1",  # no collected admin files needed: no admin here
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
    }


def prepare(work: Path, env: dict[str, str]) -> None:
    """A migrated archive and its keyring, and another deployment's keyring beside them."""

    def manage(*args: str, **extra: str) -> None:
        subprocess.run(
            [str(PYTHON), "manage.py", *args],
            env={**env, **extra},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    manage("migrate", "--noinput", "-v0")
    manage("init_keyring")
    manage("init_keyring", LOCAL_KEYRING_PATH=str(work / "other-deployment-keyring.json"))
    shutil.copy(work / "archive.db", work / "archive.template.db")


def prometheus_config(work: Path, front: int, revisions: dict[str, int], rules: Path) -> Path:
    sidecar = [
        {
            "job_name": name,
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            # What the Managed Prometheus sidecar adds to every series it scrapes.
            "relabel_configs": [
                {"target_label": label, "replacement": value}
                for label, value in (
                    ("service_name", SERVICE),
                    ("revision_name", name),
                    ("configuration_name", SERVICE),
                    ("namespace", SERVICE),
                    ("cluster", "__run__"),
                )
            ],
        }
        for name, port in revisions.items()
    ]
    config = {
        "global": {
            "scrape_interval": scaled(SCRAPE_REAL, FACTOR),
            "scrape_timeout": scaled(SCRAPE_REAL, FACTOR),
            "evaluation_interval": scaled(DEFAULT_INTERVAL, FACTOR),
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            # Cloud Run's own metrics come labelled with service_name and revision_name.
            {
                "job_name": "cloud-run",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{front}"]}],
            },
            *sidecar,
        ],
    }
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def firing(prometheus: int, watched: set[str]) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{prometheus}/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=5) as answer:
        alerts = json.load(answer)["data"]["alerts"]
    return sorted(
        (a for a in alerts if a["state"] == "firing" and a["labels"]["alertname"] in watched),
        key=lambda a: a["activeAt"],
    )


def answers(front: FrontEnd) -> str:
    """What each revision answered, as the front end counted it: the proof of the load."""
    by_revision: dict[str, list[str]] = {}
    for (revision, code_class), count in sorted(front.counts.requests.items()):
        by_revision.setdefault(revision, []).append(f"{count} {code_class}")
    return "; ".join(f"{name}: {', '.join(counts)}" for name, counts in by_revision.items())


def run(scenario: Scenario, work: Path, rules: Path, watched: set[str]) -> tuple[str, str]:
    """Rolls the canary out phase by phase; returns the verdict line and what was answered."""
    processes = Processes()
    secret = secrets.token_urlsafe(24)
    env = base_env(work, secret)
    shutil.copy(work / "archive.template.db", work / "archive.db")
    for suffix in ("-wal", "-shm"):
        (work / f"archive.db{suffix}").unlink(missing_ok=True)
    ports = {name: (free_port(), free_port()) for name in (STABLE, CANARY)}
    front: FrontEnd | None = None
    try:

        def revision(name: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
            metrics_dir = work / f"metrics-{name}"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir()
            web, metrics = ports[name]
            return processes.start(
                [str(GUNICORN), "groupie.wsgi", "-c", "gunicorn.conf.py"],
                {
                    **env,
                    "K_SERVICE": SERVICE,
                    "K_CONFIGURATION": SERVICE,
                    "K_REVISION": name,
                    "GUNICORN_BIND": f"127.0.0.1:{web}",
                    "GROUPIE_METRICS_PORT": str(metrics),
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                    **extra,
                },
                work / f"{scenario.name}-{name}.log",
            )

        stable = revision(STABLE, {})
        if not wait_http(f"http://127.0.0.1:{ports[STABLE][0]}/healthz", 60, stable):
            raise RuntimeError(f"the stable revision did not start: {work}/{scenario.name}-*.log")
        front = FrontEnd(SERVICE, Revision(STABLE, ports[STABLE][0]), secret, RATE, PROBE)
        front.start()
        prometheus_port = free_port()
        config = prometheus_config(
            work, front.port, {name: metric for name, (_, metric) in ports.items()}, rules
        )
        tsdb = work / f"tsdb-{scenario.name}"
        prometheus = processes.start(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            env,
            work / f"{scenario.name}-prometheus.log",
        )
        if not wait_http(f"http://127.0.0.1:{prometheus_port}/-/ready", 30, prometheus):
            raise RuntimeError("Prometheus did not start")
        time.sleep(WARM_UP)

        # The rollout: the canary revision is deployed, then takes each phase's share.
        rollout = time.monotonic()
        canary = revision(CANARY, scenario.env)
        if not wait_http(f"http://127.0.0.1:{ports[CANARY][0]}/healthz", 60, canary):
            return (
                f"scenario {scenario.name}: rolled back at {PHASES[0]} % after "
                f"{time.monotonic() - rollout:.0f} s (deploy: the revision did not start)",
                answers(front),
            )
        front.canary = Revision(CANARY, ports[CANARY][0], scenario.delay)
        for share in PHASES:
            front.share = share
            phase_end = time.monotonic() + ANALYSIS
            while time.monotonic() < phase_end:
                found = [
                    a
                    for a in firing(prometheus_port, watched)
                    if a["labels"].get("revision_name") == CANARY
                ]
                if found:
                    return (
                        f"scenario {scenario.name}: rolled back at {share} % after "
                        f"{time.monotonic() - rollout:.0f} s "
                        f"(alert: {found[0]['labels']['alertname']})",
                        answers(front),
                    )
                time.sleep(0.5)
        front.share = 100
        return f"scenario {scenario.name}: promoted", answers(front)
    finally:
        if front is not None:
            front.stop()
        processes.stop_all()


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", default="all", choices=["good", "errors", "slow", "refused", "all", "custom"]
    )
    parser.add_argument("--canary-env", default="", help='for custom: "K=V K2=V2"')
    args = parser.parse_args()
    canary_env = dict(item.split("=", 1) for item in shlex.split(args.canary_env))
    if args.scenario == "custom" and not canary_env:
        parser.error('custom needs CANARY_ENV="K=V ..."')
    if shutil.which("prometheus") is None:
        print("prometheus is not installed (apt-get install prometheus)", file=sys.stderr)
        return 2
    # Ctrl-C, or a TERM from CI, stops the run through the same clean-up (even where SIGINT
    # was inherited as ignored, as in a background job).
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)

    (ROOT / "var").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rehearsal-", dir=ROOT / "var"))
    started = time.monotonic()
    keep = True  # the logs stay for a look unless every scenario went as expected
    try:
        document = yaml.safe_load(RULES.read_text())
        rules = work / "rules.yml"
        rules.write_text(yaml.safe_dump(compress(document, FACTOR), sort_keys=False))
        (group,) = [g for g in document["groups"] if g["name"] == "groupie-canary"]
        watched = {rule["alert"] for rule in group["rules"]}
        print(
            f"canary rehearsal: rules of {RULES.relative_to(ROOT)} with every duration / "
            f"{FACTOR}; a phase's analysis lasts {ANALYSIS:.0f} s; {RATE:.0f} deliveries/s.",
            flush=True,
        )
        prepare(work, base_env(work, "prepare"))
        table = scenarios(work, canary_env)
        names = ["good", "errors", "slow", "refused"] if args.scenario == "all" else [args.scenario]
        failures = 0
        for name in names:
            scenario = table[name]
            began = time.monotonic()
            verdict, answered = run(scenario, work, rules, watched)
            print(verdict, flush=True)
            got = "promoted" if verdict.endswith(": promoted") else "rolled back"
            note = f"  ({scenario.about}; {time.monotonic() - began:.0f} s; {answered}"
            if scenario.expected is not None and got != scenario.expected:
                failures += 1
                note += f"; EXPECTED {scenario.expected}, logs kept in {work}"
            print(note + ")", flush=True)
        print(f"canary rehearsal: {len(names)} scenario(s) in {time.monotonic() - started:.0f} s")
        keep = failures > 0
        return 1 if failures else 0
    except KeyboardInterrupt:
        print("canary rehearsal: interrupted", file=sys.stderr)
        return 130
    finally:
        if keep:
            print(f"canary rehearsal: logs in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
