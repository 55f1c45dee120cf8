"""Peer benchmark: groupie's webhook against the old Flask prototype, on the same Firestore + KMS.

Both apps run under gunicorn (2 workers x 4 threads by default) at once, on one Firestore
emulator (tests/firestore/launch.js, a fresh emulator per round) and one loopback
Cloud KMS peer (tests/peers/kms.py, in a process of its own so its CPU is measured apart), and wrk
drives them in turn with the distinct, real-shaped updates of bench/ingest.py, at 40
connections, loopback only, each run bounded in time and in count.

The prototype is not part of this repository. At run time its HEAD is extracted from a local
clone (``--mirror PATH``, or the environment variable GROUPIE_PROTOTYPE_REPO; there is no
default) into a throwaway directory, its pinned runtime requirements (not pytest)
are installed into a venv of its own (cached under ``--cache-dir`` while they do not change),
and it is served through bench/peer_shim.py, which points its KMS client at the peer and stubs
its per-message Telegram reply; see that module for exactly what is swapped.

For each KMS delay (``--kms-delay-ms``, default 0 and 10 ms a call), ``--rounds`` rounds. A
round starts both apps afresh on a new emulator (it slows as it holds more), warms
each up, then measures one run of each, which goes first alternating by round. Per run: updates/s,
p50 and p99, CPU milliseconds per stored message of the app's gunicorn processes, the emulator
and the KMS peer (utime + stime from /proc), and KMS Encrypt calls per stored message.
After each round it replays one update ``--replays`` times to each app and counts what each
stored against what it acknowledged, and the duplicates. Figures are reported, not asserted.

    .venv/bin/python bench/peer.py [--rounds 3] [--seconds 15] [--max-requests 6000]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

try:
    from bench import common, ingest
except ImportError:  # run as a script (python bench/peer.py): bench/ itself is on sys.path
    import common  # type: ignore[no-redef]
    import ingest  # type: ignore[no-redef]

if str(common.ROOT) not in sys.path:
    sys.path.insert(0, str(common.ROOT))

from tests.peers.firestore import start_emulator
from tests.peers.node import PeerMissing, stop_peer

BENCH_DIR = Path(__file__).resolve().parent
# Where a local clone of the prototype is (bare, mirror or working copy): --mirror, else this.
MIRROR_ENV = "GROUPIE_PROTOTYPE_REPO"
REQUIREMENTS = "infrastructure/requirements/requirements.txt"
CACHE_DIR = Path(tempfile.gettempdir()) / "groupie-peer-bench"
# One CryptoKey on the peer; the prototype builds the same name from its KMS_* variables.
KMS_PROJECT, KMS_LOCATION, KMS_RING, KMS_KEY = "peer-bench", "global", "groupie", "chat-keys"
KMS_KEY_NAME = (
    f"projects/{KMS_PROJECT}/locations/{KMS_LOCATION}/keyRings/{KMS_RING}/cryptoKeys/{KMS_KEY}"
)
SIDES = ("prototype", "groupie")
BUSY_CORES = 0.25  # other processes' CPU, in cores, above which a run is flagged
REPLAY_BASE = 9 * 10**14  # update numbers of the replayed update, apart from every run's
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Appended to bench/ingest.py's script: a thread stops after BENCH_MAX_PER_THREAD requests.
LUA_BOUND = r"""
-- Added by bench/peer.py: each run is bounded in count as well as in time.
local MAX_PER_THREAD = tonumber(os.getenv("BENCH_MAX_PER_THREAD") or "0")
local counted_response = response
function response(status, headers, body)
  counted_response(status, headers, body)
  if MAX_PER_THREAD > 0 and sent >= MAX_PER_THREAD then wrk.thread:stop() end
end
"""


# -- the prototype -------------------------------------------------------------------------------


@dataclass
class Prototype:
    commit: str
    source: Path
    venv: Path
    requirements: list[str]
    venv_cached: bool


def git(mirror: Path, *args: str, binary: bool = False) -> Any:
    done = subprocess.run(["git", "-C", str(mirror), *args], capture_output=True, check=True)
    return done.stdout if binary else done.stdout.decode()


def prepare_prototype(mirror: Path, cache_dir: Path, tmp: Path) -> Prototype:
    """Extracts the prototype's HEAD into ``tmp`` and returns it with a venv that holds its pinned
    runtime requirements (reused from ``cache_dir`` when they are the same)."""
    if not (mirror / "HEAD").exists() and not (mirror / ".git").exists():
        raise SystemExit(
            f"The prototype's git repository is not at {mirror}. Clone "
            "github.com/sulitskii/TelegramGroupie there (a bare or mirror clone will do), or "
            f"pass --mirror PATH (or set {MIRROR_ENV})."
        )
    commit = git(mirror, "rev-parse", "HEAD").strip()
    source = tmp / f"prototype-{commit[:12]}"
    source.mkdir()
    archive = git(mirror, "archive", "--format=tar", "HEAD", binary=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    requirements = [
        line.strip()
        for line in git(mirror, "show", f"HEAD:{REQUIREMENTS}").splitlines()
        if line.strip()
        and not line.strip().startswith("#")
        and not line.strip().lower().startswith("pytest")
    ]
    python = getattr(sys, "_base_executable", sys.executable)
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    key = hashlib.sha256("\n".join([version, *requirements]).encode()).hexdigest()[:16]
    venv = cache_dir / f"prototype-venv-{key}"
    marker = venv / "bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    cached = marker.is_file() and marker.read_text() == wanted
    if not cached:
        print(f"prototype: installing {len(requirements)} pinned requirements into {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        requirements_file = tmp / "prototype-requirements.txt"
        requirements_file.write_text(wanted)
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements_file)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            errors = [line for line in done.stderr.splitlines() if "is ignored" not in line]
            raise RuntimeError("pip could not install the prototype:\n" + "\n".join(errors[-30:]))
        marker.write_text(wanted)
    return Prototype(commit, source, venv, requirements, cached)


# -- peers ---------------------------------------------------------------------------------------


class KmsProcess:
    """tests/peers/kms.py in a process of its own; ``counts()`` asks it for its call counts."""

    def __init__(self, delay_ms: float) -> None:
        self.process = subprocess.Popen(
            [
                str(common.BIN / "python"),
                "-m",
                "tests.peers.kms",
                "--key-name",
                KMS_KEY_NAME,
                "--delay-ms",
                str(delay_ms),
            ],
            cwd=common.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        self.endpoint = str(self._read()["endpoint"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None  # noqa: S101 - Popen(stdout=PIPE)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the KMS peer exited")
        return dict(json.loads(line))

    def counts(self) -> Counter[str]:
        with self._lock:
            assert self.process.stdin is not None  # noqa: S101 - Popen(stdin=PIPE)
            self.process.stdin.write("counts\n")
            self.process.stdin.flush()
            return Counter(self._read())

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- CPU accounting ------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state (3rd) on


def process_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0  # utime + stime


def all_processes() -> dict[int, tuple[int, int]]:
    """pid: (ppid, utime + stime) for every process."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                found[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def tree_ticks(master: int) -> int:
    """A gunicorn server's CPU: the master, its live workers, and the workers it has reaped."""
    fields = _stat(master)
    if not fields:
        return 0
    own = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return own + sum(t for ppid, t in all_processes().values() if ppid == master)


def wait_quiet(master: int, most: float = 15.0) -> None:
    """Waits until a server has used no CPU for half a second (at most ``most`` seconds)."""
    deadline = time.monotonic() + most
    last, still = tree_ticks(master), 0
    while time.monotonic() < deadline and still < 2:
        time.sleep(0.25)
        now = tree_ticks(master)
        still = still + 1 if now == last else 0
        last = now


def to_ms(ticks: int) -> float:
    return ticks * 1000 / CLOCK_TICKS


def others_busy(ours: set[int], seconds: float = 1.0) -> tuple[float, list[str]]:
    """Cores other processes used over ``seconds``, and the busiest of them."""
    before = all_processes()
    time.sleep(seconds)
    after = all_processes()

    def mine(pid: int) -> bool:
        return pid in ours or after.get(pid, (0, 0))[0] in ours

    used = {
        pid: to_ms(t - before[pid][1]) / 1000 / seconds
        for pid, (_, t) in after.items()
        if pid in before and not mine(pid)
    }
    busiest = sorted((p for p in used if used[p] > 0.05), key=used.__getitem__, reverse=True)[:3]
    names = []
    for pid in busiest:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            command = "?"
        names.append(f"{pid} ({used[pid]:.2f} cores) {command[:70].strip()}")
    return sum(used.values()), names


# -- servers -------------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    url: str  # the webhook's URL
    pid: int  # the gunicorn master
    project: str  # its Firestore project
    log: Path


@contextmanager
def prototype_server(
    proto: Prototype, env: dict[str, str], port: int, log_path: Path, args: argparse.Namespace
) -> Iterator[int]:
    command = [
        str(proto.venv / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads_per_worker),
        "--timeout",
        "30",
        "--pythonpath",
        f"{proto.source},{BENCH_DIR}",
        "peer_shim:app",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=proto.source,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        common.wait_healthy(process, port)
        yield process.pid
    except BaseException:
        common.print_log_tail(log_path)
        raise
    finally:
        common.stop(process)


def prototype_env(
    proto: Prototype, project: str, emulator: str, kms: KmsProcess, secret: str
) -> dict[str, str]:
    """What the prototype requires (it refuses to start without GCP_PROJECT_ID, TELEGRAM_TOKEN
    and WEBHOOK_SECRET), and nothing of groupie's environment."""
    return {
        "PATH": f"{proto.venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(proto.source),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "FIRESTORE_EMULATOR_HOST": emulator,
        "GOOGLE_CLOUD_PROJECT": project,  # its Firestore client's project on the emulator
        "GCP_PROJECT_ID": KMS_PROJECT,  # with the three below, its KMS key name
        "KMS_LOCATION": KMS_LOCATION,
        "KMS_KEY_RING": KMS_RING,
        "KMS_KEY_ID": KMS_KEY,
        "TELEGRAM_TOKEN": "123456:bench-stub-no-network",
        "WEBHOOK_SECRET": secret,
        "BENCH_KMS_ENDPOINT": kms.endpoint,
    }


def groupie_env(
    base: dict[str, str], tmp: Path, project: str, emulator: str, kms: KmsProcess
) -> dict[str, str]:
    metrics = Path(tempfile.mkdtemp(prefix="metrics-", dir=tmp))
    return {
        **base,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "GROUPIE_STORE": "firestore",
        "GROUPIE_KEYRING": "cloudkms",
        "GCP_PROJECT_ID": project,
        "FIRESTORE_EMULATOR_HOST": emulator,
        "KMS_KEY_NAME": KMS_KEY_NAME,
        "KMS_ENDPOINT": kms.endpoint,
    }


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Run:
    side: str
    label: str
    base: int
    delay_ms: float
    result: dict[str, Any] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    kms_calls: dict[str, int] = field(default_factory=dict)
    busy: dict[str, Any] = field(default_factory=dict)
    stored: int = 0

    @property
    def acked(self) -> int:
        return int(self.result["acked"])

    @property
    def rate(self) -> float:
        return self.acked / (self.result["duration_us"] / 1e6)

    def facts(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "base": self.base,
            "acked": self.acked,
            "sent_per_thread": self.result["sent_per_thread"],
        }


def run_wrk(
    run: Run, url: str, seconds: int, script: Path, args: argparse.Namespace, env: dict[str, str]
) -> None:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
        "--",
        str(run.base),
    ]
    per_thread = -(-args.max_requests // args.threads) if run.label != "warmup" else 0
    done = subprocess.run(
        command,
        env={**env, "BENCH_MAX_PER_THREAD": str(per_thread)},
        capture_output=True,
        text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(ingest.RESULT_MARKER)]
    if done.returncode or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    run.result = json.loads(lines[-1][len(ingest.RESULT_MARKER) :])
    run.result["command"] = shlex.join(command).replace(env["WEBHOOK_SECRET"], "<secret>")
    run.result["max_per_thread"] = per_thread


def measured_run(
    run: Run,
    side: Side,
    seconds: int,
    script: Path,
    args: argparse.Namespace,
    env: dict[str, str],
    peers: dict[str, int],
    kms: KmsProcess,
    ours: set[int],
) -> None:
    load = os.getloadavg()
    busy, names = others_busy(ours)
    run.busy = {"loadavg": [round(x, 2) for x in load], "others_cores": round(busy, 2)}
    if busy > BUSY_CORES:
        run.busy["busiest"] = names
        print(
            f"  WARNING: other processes used {busy:.2f} cores just before this run "
            f"(load average {load[0]:.2f}): {'; '.join(names)}",
            flush=True,
        )
    before = {"app": tree_ticks(side.pid)} | {k: process_ticks(p) for k, p in peers.items()}
    calls_before = kms.counts()
    run_wrk(run, side.url, seconds, script, args, env)
    wait_quiet(side.pid)  # requests still in flight when wrk stopped finish (and are stored)
    calls = kms.counts() - calls_before
    after = {"app": tree_ticks(side.pid)} | {k: process_ticks(p) for k, p in peers.items()}
    run.cpu_ms = {k: to_ms(after[k] - before[k]) for k in before}
    run.kms_calls = dict(calls)
    r = run.result
    print(
        f"  {run.delay_ms:>4g} ms  {side.name:9} {run.label:8} {run.acked:6} acked  "
        f"{run.rate:7.1f}/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
        f"cpu app {run.cpu_ms['app'] / 1000:5.1f} s  statuses {r['statuses']}",
        flush=True,
    )


def replay(side: Side, secret: str, count: int, connections: int) -> dict[str, Any]:
    """Posts one update ``count`` times, ``connections`` at a time."""
    seq = REPLAY_BASE + 1 if (REPLAY_BASE + 1) % ingest.PHOTO_EVERY else REPLAY_BASE + 3
    body = json.dumps({"update_id": seq, "message": ingest.expected_message(seq)}).encode()
    host, port = side.url.split("/")[2].split(":")
    path = "/" + side.url.split("/", 3)[3]
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}

    def post(_: int) -> int:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=connections) as pool:
        statuses = Counter(pool.map(post, range(count)))
    message = ingest.expected_message(seq)
    return {
        "seq": seq,
        "chat_id": message["chat"]["id"],
        "message_id": message["message_id"],
        "sent": count,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


# -- what was stored -----------------------------------------------------------------------------


def check_runs(seqs: list[int], runs: list[dict[str, Any]], photos_kept: bool) -> dict[str, Any]:
    """Per run: stored (distinct), duplicates, stored but never sent, and the storable updates
    sent but not stored (fine up to the ones still in flight when wrk stopped: sent - acked)."""
    per_run, matched = [], 0
    for run in runs:
        mine = [s - run["base"] for s in seqs if 0 <= s - run["base"] < ingest.RUN_SPAN]
        matched += len(mine)
        sent = run["sent_per_thread"]
        sent_set = {t * ingest.STRIDE + i for t, n in enumerate(sent) for i in range(n)}
        storable = {s for s in sent_set if photos_kept or (run["base"] + s) % ingest.PHOTO_EVERY}
        distinct = set(mine)
        in_flight = sum(sent) - run["acked"]
        missing = len(storable - distinct)
        per_run.append(
            {
                "label": run["label"],
                "base": run["base"],
                "sent": sum(sent),
                "acked": run["acked"],
                "stored": len(distinct),
                "duplicates": len(mine) - len(distinct),
                "not_sent": len(distinct - sent_set),
                "storable_sent": len(storable),
                "storable_not_stored": missing,
                "ok": not distinct - sent_set and missing <= in_flight,
            }
        )
    return {
        "runs": per_run,
        "stored": len(set(seqs)),
        "documents": len(seqs),
        "unknown": len(seqs) - matched,
        "ok": all(r["ok"] for r in per_run) and len(seqs) == matched,
    }


def check_prototype(
    project: str, emulator: str, runs: list[dict[str, Any]], replayed: dict[str, Any]
) -> dict[str, Any]:
    """Counts the prototype's ``messages`` documents (one per add())."""
    from google.cloud import firestore  # type: ignore[attr-defined]

    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator
    client = firestore.Client(project=project)
    pairs = [
        (int(d.get("chat_id")), int(d.get("message_id")))
        for d in client.collection("messages").select(["chat_id", "message_id"]).stream()
    ]
    target = (replayed["chat_id"], replayed["message_id"])
    replay_docs = pairs.count(target)
    seqs = [ingest.seq_of(c, m) for c, m in pairs if (c, m) != target]
    report = check_runs(seqs, runs, photos_kept=False)
    report["replay"] = {**replayed, "stored": replay_docs, "duplicates": max(replay_docs - 1, 0)}
    return report


def check_groupie(
    env: dict[str, str], runs: list[dict[str, Any]], replayed: dict[str, Any]
) -> dict[str, Any]:
    return common.django_helper("bench.peer", env, {"runs": runs, "replay": replayed})


def helper_main() -> None:
    """In a subprocess, with Django on the benchmark's settings: what groupie's store holds."""
    import random

    import django

    django.setup()
    from crypto.envelope import message_identity
    from crypto.errors import CryptoError
    from messages.sealing import open_one
    from messages.stores import get_store

    payload = json.loads(sys.stdin.read())
    replayed = payload["replay"]
    store = get_store()
    heads = list(store.iter_heads())
    target = (replayed["chat_id"], replayed["message_id"])
    seqs = [
        ingest.seq_of(h.chat_id, h.message_id) for h in heads if (h.chat_id, h.message_id) != target
    ]
    report = check_runs(seqs, payload["runs"], photos_kept=True)
    revisions = sum(store.count_revisions().values())
    counted = sum(chat.message_count for chat in store.list_chats())
    history = store.get_message(*target)
    replay_revisions = len(history.revisions) if history else 0
    mismatched = 0
    sample = random.sample(heads, min(50, len(heads)))
    for head in sample:
        identity = message_identity(head.chat_id, head.message_id, head.edit_date)
        try:
            stored = json.loads(open_one(identity, head.envelope))
        except (CryptoError, ValueError):
            stored = None
        if stored != ingest.expected_message(ingest.seq_of(head.chat_id, head.message_id)):
            mismatched += 1
    report.update(
        heads=len(heads),
        revisions=revisions,
        chat_message_count=counted,
        sampled=len(sample),
        sample_mismatches=mismatched,
        replay={
            **replayed,
            "stored": replay_revisions,
            "duplicates": max(replay_revisions - 1, 0),
        },
    )
    report["ok"] = report["ok"] and revisions == counted == len(heads) and not mismatched
    print(json.dumps(report))


# -- one KMS setting -----------------------------------------------------------------------------


def one_setting(
    delay_ms: float,
    proto: Prototype,
    script: Path,
    args: argparse.Namespace,
    base_env: dict[str, str],
    tmp: Path,
    stamp: str,
    runs_so_far: list[Run],
) -> dict[str, Any]:
    kms = KmsProcess(delay_ms)
    print(f"\nKMS delay {delay_ms:g} ms per call (peer pid {kms.pid}, {kms.endpoint})", flush=True)
    mine: list[Run] = []
    rounds: list[dict[str, Any]] = []
    projects: dict[str, list[str]] = {side: [] for side in SIDES}
    try:
        for number in range(args.rounds):
            # A fresh emulator, projects and servers for every round: the emulator slows as
            # it holds more (measured: both apps at about half their first round's rate by
            # the third on one emulator), which would favour whichever app goes first.
            label = f"{stamp}-{int(delay_ms)}ms-r{number + 1}"
            with fresh_emulator() as emulator:
                done = one_round(
                    label,
                    number,
                    delay_ms,
                    proto,
                    emulator,
                    kms,
                    script,
                    args,
                    base_env,
                    tmp,
                    runs_so_far,
                )
            mine += done["runs"]
            rounds.append(done["checks"])
            for side in SIDES:
                projects[side].append(done["projects"][side])
    finally:
        kms.close()
    checks = {side: merge_checks([r[side] for r in rounds]) for side in SIDES}
    return summarize_setting(delay_ms, mine, checks, projects)


@contextmanager
def fresh_emulator() -> Iterator[tuple[int, str]]:
    """A Firestore emulator of its own: its pid and host."""
    process, host = start_emulator()
    try:
        yield process.pid, host
    finally:
        stop_peer(process)


def one_round(
    label: str,
    number: int,
    delay_ms: float,
    proto: Prototype,
    emulator: tuple[int, str],
    kms: KmsProcess,
    script: Path,
    args: argparse.Namespace,
    base_env: dict[str, str],
    tmp: Path,
    runs_so_far: list[Run],
) -> dict[str, Any]:
    """Both apps on projects of their own, on the round's own emulator: a warm-up each, a
    measured run each (which goes first alternates by round), 200 replays of one update each,
    then what they stored."""
    emulator_pid, emulator_host = emulator
    secret = base_env["WEBHOOK_SECRET"]
    projects = {side: f"peer-{label}-{side}" for side in SIDES}
    g_env = groupie_env(base_env, tmp, projects["groupie"], emulator_host, kms)
    p_env = prototype_env(proto, projects["prototype"], emulator_host, kms, secret)
    ports = {side: common.free_port() for side in SIDES}
    logs = {side: tmp / f"{side}-{label}.log" for side in SIDES}
    mine: list[Run] = []
    with (
        common.running_server(g_env, ports["groupie"], logs["groupie"]) as server,
        prototype_server(proto, p_env, ports["prototype"], logs["prototype"], args) as p_pid,
    ):
        sides = {
            "prototype": Side(
                "prototype",
                f"http://127.0.0.1:{ports['prototype']}/webhook/{secret}",
                p_pid,
                projects["prototype"],
                logs["prototype"],
            ),
            "groupie": Side(
                "groupie",
                f"{server.url}/telegram/webhook/",
                server.pid,
                projects["groupie"],
                logs["groupie"],
            ),
        }
        peers = {"emulator": emulator_pid, "kms": kms.pid}
        ours = {os.getpid(), emulator_pid, kms.pid, p_pid, server.pid}

        def start(side: str, run_label: str, seconds: int) -> None:
            run = Run(side, run_label, (len(runs_so_far) + 1) * ingest.RUN_SPAN, delay_ms)
            runs_so_far.append(run)
            mine.append(run)
            measured_run(run, sides[side], seconds, script, args, g_env, peers, kms, ours)

        order = SIDES if number % 2 == 0 else tuple(reversed(SIDES))
        for side in order:
            start(side, "warmup", args.warmup)
        for side in order:
            start(side, f"run{number + 1}", args.seconds)
        replays = {
            side: replay(sides[side], secret, args.replays, min(args.connections, 20))
            for side in SIDES
        }
        # Let the last requests of wrk's stopped connections finish before counting.
        time.sleep(2)
    facts = {side: [r.facts() for r in mine if r.side == side] for side in SIDES}
    checks = {
        "prototype": check_prototype(
            projects["prototype"], emulator_host, facts["prototype"], replays["prototype"]
        ),
        "groupie": check_groupie(g_env, facts["groupie"], replays["groupie"]),
    }
    for side in SIDES:
        stored = {r["base"]: r["stored"] for r in checks[side]["runs"]}
        for run in mine:
            if run.side == side:
                run.stored = stored[run.base]
    return {"runs": mine, "checks": checks, "projects": projects}


def merge_checks(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's checks over its rounds; the replay shown is the round that stored most."""
    return {
        "runs": [run for r in rounds for run in r["runs"]],
        "stored": sum(r["stored"] for r in rounds),
        "documents": sum(r["documents"] for r in rounds),
        "unknown": sum(r["unknown"] for r in rounds),
        "ok": all(r["ok"] for r in rounds),
        "replay": max((r["replay"] for r in rounds), key=lambda replay: replay["stored"]),
    }


def summarize_setting(
    delay_ms: float, runs: list[Run], checks: dict[str, Any], projects: dict[str, list[str]]
) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3) if values else float("nan")

    sides: dict[str, Any] = {}
    for side in SIDES:
        measured = [r for r in runs if r.side == side and r.label != "warmup"]
        per_stored = {
            f"{part}_cpu_ms_per_stored": med(
                [r.cpu_ms[part] / r.stored for r in measured if r.stored]
            )
            for part in ("app", "emulator", "kms")
        }
        sides[side] = {
            "runs": len(measured),
            "updates_per_s": med([r.rate for r in measured]),
            "p50_ms": med([r.result["p50_ms"] for r in measured]),
            "p99_ms": med([r.result["p99_ms"] for r in measured]),
            **per_stored,
            "app_cpu_ms_per_acked": med([r.cpu_ms["app"] / r.acked for r in measured if r.acked]),
            "kms_encrypt_per_stored": med(
                [r.kms_calls.get("Encrypt", 0) / r.stored for r in measured if r.stored]
            ),
            "acked": sum(r.acked for r in measured),
            "stored": sum(r.stored for r in measured),
            "non_2xx": sum(
                n for r in measured for code, n in r.result["statuses"].items() if code[0] != "2"
            ),
            "check_ok": checks[side]["ok"],
            "replay_sent": checks[side]["replay"]["sent"],
            "replay_statuses": checks[side]["replay"]["statuses"],
            "replay_stored": checks[side]["replay"]["stored"],
            "replay_duplicates": checks[side]["replay"]["duplicates"],
        }
    ratios = {}
    for key, value in sides["groupie"].items():
        other = sides["prototype"][key]
        if isinstance(value, float | int) and not isinstance(value, bool) and other:
            ratios[key] = round(value / other, 3)
    return {
        "kms_delay_ms": delay_ms,
        "projects": projects,
        **sides,
        "groupie_over_prototype": ratios,
        "checks": checks,
        "runs": [
            {
                "side": r.side,
                "label": r.label,
                "base": r.base,
                "updates_per_s": round(r.rate, 1),
                "stored": r.stored,
                "cpu_ms": {k: round(v, 1) for k, v in r.cpu_ms.items()},
                "kms_calls": r.kms_calls,
                "busy": r.busy,
                **r.result,
            }
            for r in runs
        ],
    }


# -- report --------------------------------------------------------------------------------------

ROWS = (
    ("updates/s (median)", "updates_per_s", "{:.1f}"),
    ("p50 ms (median)", "p50_ms", "{:.1f}"),
    ("p99 ms (median)", "p99_ms", "{:.1f}"),
    ("app CPU ms / stored msg", "app_cpu_ms_per_stored", "{:.2f}"),
    ("emulator CPU ms / stored", "emulator_cpu_ms_per_stored", "{:.2f}"),
    ("KMS peer CPU ms / stored", "kms_cpu_ms_per_stored", "{:.3f}"),
    ("KMS Encrypt / stored", "kms_encrypt_per_stored", "{:.4f}"),
    ("acknowledged (runs)", "acked", "{}"),
    ("stored (runs)", "stored", "{}"),
    ("replay: stored of 200", "replay_stored", "{}"),
)


def print_setting(setting: dict[str, Any]) -> None:
    print(f"\nKMS {setting['kms_delay_ms']:g} ms/call, {setting['groupie']['runs']} runs each")
    print(f"{'':28}{'prototype':>12}{'groupie':>12}{'groupie/prototype':>20}")
    for title, key, form in ROWS:
        p, g = setting["prototype"][key], setting["groupie"][key]
        ratio = setting["groupie_over_prototype"].get(key)
        shown = f"{ratio:.2f}" if ratio is not None and key not in ("acked", "stored") else ""
        print(f"{title:28}{form.format(p):>12}{form.format(g):>12}{shown:>20}")
    for side in SIDES:
        c = setting["checks"][side]
        print(
            f"{side}: {c['stored']} distinct stored, {c['documents']} documents, "
            f"{sum(r['duplicates'] for r in c['runs'])} duplicates, "
            f"{sum(r['storable_not_stored'] for r in c['runs'])} storable sent not stored, "
            f"{c['unknown']} unknown; check {'OK' if c['ok'] else 'FAILED'}"
        )


def parse_args() -> argparse.Namespace:
    conf = ingest.gunicorn_defaults()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per app and delay")
    parser.add_argument("--seconds", type=int, default=15, help="time bound of a run")
    parser.add_argument(
        "--max-requests", type=int, default=6000, help="count bound of a run (requests sent)"
    )
    parser.add_argument("--warmup", type=int, default=4, help="seconds of warm-up per app")
    parser.add_argument(
        "--kms-delay-ms",
        type=float,
        nargs="+",
        default=[0.0, 10.0],
        help="the KMS peer's delay per call; one set of runs each",
    )
    parser.add_argument("--replays", type=int, default=200, help="copies of the replayed update")
    parser.add_argument("--connections", type=int, default=40, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=conf["workers"], help="gunicorn workers")
    parser.add_argument(
        "--threads-per-worker", type=int, default=conf["threads"], help="gunicorn threads"
    )
    parser.add_argument(
        "--mirror",
        type=Path,
        default=os.environ.get(MIRROR_ENV) or None,
        help=f"a local clone of the prototype (bare, mirror or a checkout); default ${MIRROR_ENV}",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=CACHE_DIR, help="where the prototype's venv is kept"
    )
    args = parser.parse_args()
    if args.mirror is None:
        parser.error(f"say where the prototype's clone is: --mirror PATH or {MIRROR_ENV}=PATH")
    if args.threads > 9 or args.connections < args.threads:
        parser.error("use 1-9 wrk threads and at least one connection per thread")
    return args


def main() -> int:
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    command = common.command_line()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="groupie-peer-bench-") as name:
        tmp = Path(name)
        proto = prepare_prototype(args.mirror, args.cache_dir, tmp)
        print(
            f"prototype {proto.commit} from {args.mirror}, venv {proto.venv} "
            f"({'cached' if proto.venv_cached else 'installed'})"
        )
        base_env = common.bench_env(
            tmp,
            None,
            WEB_CONCURRENCY=str(args.workers),
            GUNICORN_THREADS=str(args.threads_per_worker),
        )
        base_env["BENCH_WEBHOOK_SECRET"] = base_env["WEBHOOK_SECRET"]
        common.migrate(base_env)  # Django's own tables; messages go to Firestore
        script = tmp / "updates.lua"
        script.write_text(ingest.lua_script() + LUA_BOUND, encoding="utf-8")
        try:  # a first start says at once if the emulator is missing
            stop_peer(start_emulator()[0])
        except PeerMissing as exc:
            sys.exit(str(exc))
        print(
            f"gunicorn: {args.workers} workers x {args.threads_per_worker} threads per app; "
            f"a Firestore emulator per round; wrk {args.connections} connections"
        )
        stamp = secrets.token_hex(3)
        runs: list[Run] = []
        settings = [
            one_setting(delay, proto, script, args, base_env, tmp, stamp, runs)
            for delay in args.kms_delay_ms
        ]
    summary = {
        "command": command,
        "prototype": {
            "repository": "github.com/sulitskii/TelegramGroupie",
            "commit": proto.commit,
            "requirements": proto.requirements,
            "shim": "bench/peer_shim.py: KMS client on the loopback peer, Telegram reply stubbed",
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seconds": round(time.monotonic() - started),
        "results": settings,
    }
    for setting in settings:
        print_setting(setting)
    print(f"command: {command}")
    print(f"results: {common.write_results(summary, 'peer')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
