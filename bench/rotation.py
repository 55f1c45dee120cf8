"""Key rotation benchmark: after a KEK rotation, rewrap_keys costs per chat key, not per message.

Builds one throwaway archive (a temporary SQLite file and local keyring) of real-shaped
Telegram messages over ``--chats`` chats (1,000), and measures it at two sizes with the same
chats: ``--small-messages`` (20,000) and ``--messages`` (200,000). The small archive is a
prefix of the big one: the loader copies the database and keyring aside when it reaches the
small size, then carries on. At each size, in a fresh Django process and through the real
management commands (``call_command``, ``--no-progress``), it runs:

1. ``--rounds`` (3) rounds of ``rotate_kek`` then ``rewrap_keys``: wall time (the median is
   reported), and every call made on the real LocalKeyring instance (its methods are wrapped
   in place to count; nothing is faked), checked against groupie_keyring_calls_total.
   Meanwhile temporary SQLite triggers count each row inserted, updated or deleted in
   archive_message, archive_messagerevision, archive_chat and archive_chatkey, and a SHA-256
   digest of every head, revision and chat row is taken before and after;
2. ``rewrap_keys`` again (nothing left to move), ``configure_kek --min-decryption-version``
   the new primary (it refuses while any chat key still needs an older version) and
   ``verify_archive``: every revision, head and title must open with the older KEK versions
   out of service;
3. the baseline, what a design without a chat-key layer must do on a KEK rotation: re-encrypt
   every message. ``rotate_chat_keys`` gives every chat a new key, then ``reencrypt_messages``
   re-seals every revision and head under it (timed separately; the ratio uses
   ``reencrypt_messages`` alone). The triggers are dropped first, so the baseline does not pay
   for them.

Loading takes the bulk path of bench/api_pages.py (the same sealing, rows and chat directory,
see its docstring); here every chat gets its first message before the Zipf-like spread
starts, so all chats have a key at both sizes, and about one text message in twenty has an
edit (a second revision, the head holding it, version_count 2).

Performance figures are reported, not asserted. The exit status is non-zero only for a
functional failure: a message, revision or chat row written or changed by rotate_kek or
rewrap_keys, keyring calls other than one unwrap and one wrap per chat key (or a metric that
disagrees), a chat key not under the new primary KEK version, a command that failed,
verify_archive not passing, or a baseline that left records under the old chat keys.

    .venv/bin/python bench/rotation.py [--messages 200000] [--small-messages 20000]
        [--chats 1000] [--rounds 3] [--big-baseline | --no-big-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import itertools
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    from bench import common
except ImportError:  # run as a script (python bench/rotation.py): bench/ itself is on sys.path
    import common  # type: ignore[no-redef, import-not-found]

# The archive generator and bulk loader of the API bench, shared. Imported by name so that
# type-checking this file does not re-check api_pages.py (its own script-mode import fallback).
api_pages: Any = importlib.import_module(common.__name__.replace("common", "api_pages"))

ROOT = common.ROOT
BATCH_SIZE = 2000
ZIPF = 0.8  # chat weights 1/rank**ZIPF: a few busy chats and a long tail
EDIT_EVERY = 20  # about one text message in EDIT_EVERY gets an edit
UPDATE_BASE = 700000000
DATABASE = "groupie.db"
KEYRING = "keyring.json"

# Tables whose rows rewrap_keys must not write, and the chat-key table, which it must.
RECORD_TABLES = ("archive_message", "archive_messagerevision", "archive_chat")
KEY_TABLE = "archive_chatkey"
COUNTER_TABLE = "bench_row_writes"
OPERATIONS = ("INSERT", "UPDATE", "DELETE")
KEYRING_METHODS = (
    "wrap",
    "unwrap",
    "rotate",
    "primary_version",
    "versions",
    "version_of",
    "set_state",
    "set_min_decryption_version",
)
# What the bench reports, as sums of groupie_keyring_calls_total's (operation, result) series.
METRIC_OPERATIONS = {
    "wrap": (("wrap", "ok"),),
    "unwrap": (("unwrap", "ok"), ("unwrap", "not_primary")),
    "unwrap-not-primary": (("unwrap", "not_primary"),),
}


@dataclass(frozen=True)
class Params:
    messages: int
    chats: int
    seed: int


# -- the generated archive (plain Python: no Django) ---------------------------------------------


@dataclass(frozen=True)
class Generated:
    update: dict[str, Any]
    edit: dict[str, Any] | None  # an edited_message update of the same message, or None


def generate(params: Params) -> Iterator[Generated]:
    """The archive's messages in date order; deterministic, and each prefix of a longer run is
    the shorter run. The first ``chats`` messages open one chat each."""
    specs = api_pages.chat_specs(api_pages.Params(params.messages, params.chats, params.seed))
    rng = random.Random(params.seed)
    chats = range(len(specs))
    cum_weights = list(itertools.accumulate(1 / (rank + 1) ** ZIPF for rank in chats))
    last_ids = [0] * len(specs)
    date = api_pages.DATE_BASE
    for seq in range(params.messages):
        index = seq if seq < len(specs) else rng.choices(chats, cum_weights=cum_weights)[0]
        date += rng.randrange(api_pages.MAX_GAP)
        last_ids[index] += 1
        message, kind = api_pages.telegram_message(rng, specs[index], last_ids[index], date)
        edit = None
        if kind == "text" and rng.randrange(EDIT_EVERY) == 0:
            edited = {
                **message,
                "text": message["text"] + " (edited)",
                "edit_date": date + rng.randrange(30, 3600),
            }
            edit = {"update_id": UPDATE_BASE + 2 * seq + 1, "edited_message": edited}
        yield Generated({"update_id": UPDATE_BASE + 2 * seq, "message": message}, edit)


# -- loading (runs in a Django subprocess) -------------------------------------------------------


def loader_main() -> None:
    """Loads the archive; at each size in ``snapshots`` copies the database and keyring to its
    directory. Params and snapshots as JSON on stdin; a summary per size on stdout."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction
    from tqdm import tqdm

    from messages.models import Message, MessageRevision

    payload = json.loads(sys.stdin.read())
    params = Params(**payload["params"])
    snapshots = {int(size): Path(path) for size, path in payload["snapshots"].items()}
    database = Path(settings.DATABASES["default"]["NAME"])
    keyring = Path(settings.GROUPIE_KEYRING["OPTIONS"]["path"])
    tallies: dict[int, Any] = {}  # api_pages.ChatTally
    stream = generate(params)
    started = time.perf_counter()
    loaded, revisions, sizes = 0, 0, []
    with tqdm(total=params.messages, unit="msg", desc="seal + insert", smoothing=0.1) as bar:
        for size in sorted({*snapshots, params.messages}):
            for batch in api_pages.batched(itertools.islice(stream, size - loaded), BATCH_SIZE):
                heads, rows = sealed_rows(batch, tallies)
                with transaction.atomic():
                    Message.objects.bulk_create(heads)
                    MessageRevision.objects.bulk_create(rows)
                loaded += len(heads)
                revisions += len(heads) + len(rows)  # every version: the heads' and the rest
                bar.update(len(batch))
            api_pages.write_chats(tallies)
            api_pages.finish_database()  # folds the WAL in and closes the connection
            if size in snapshots:
                snapshots[size].mkdir(parents=True, exist_ok=True)
                shutil.copy2(database, snapshots[size] / DATABASE)
                shutil.copy2(keyring, snapshots[size] / KEYRING)
            sizes.append(
                {
                    "messages": loaded,
                    "revisions": revisions,
                    "chats": len(tallies),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
    print(json.dumps(sizes))


def sealed_rows(batch: list[Generated], tallies: dict[int, Any]) -> tuple[list[Any], list[Any]]:
    """Message and MessageRevision rows, sealed as archive() seals them: the head holds the
    newest version, and an edited message's original is its one revision row."""
    from messages.telegram import IncomingMessage
    from webhooks.updates import parse_update

    heads, revisions = [], []
    for item in batch:
        incoming = parse_update(item.update)
        assert isinstance(incoming, IncomingMessage)  # noqa: S101 - generated messages only
        head = api_pages.head_row(incoming)
        if item.edit is not None:
            revisions.append(api_pages.revision_row(head))  # superseded by the edit
            edited = parse_update(item.edit)
            assert isinstance(edited, IncomingMessage)  # noqa: S101
            head = api_pages.head_row(edited)
            head.version_count = 2
        heads.append(head)
        tally = tallies.setdefault(
            incoming.chat_id, api_pages.ChatTally(incoming.chat_type, incoming.chat_title or "")
        )
        tally.add(incoming.date)
    return heads, revisions


# -- measuring (runs in a Django subprocess) -----------------------------------------------------


class KeyringCalls:
    """Counts the calls made on the real keyring instance: its public methods are replaced, on
    that instance only, by counting wrappers around the originals. A call one of them makes to
    another (version_of calling versions) is not counted twice."""

    def __init__(self, keyring: Any) -> None:
        self.counts: Counter[str] = Counter()
        self._depth = 0
        for name in KEYRING_METHODS:
            setattr(keyring, name, self._counting(name, getattr(keyring, name)))

    def _counting(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            if not self._depth:
                self.counts[name] += 1
            self._depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self._depth -= 1

        return counted

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


def metric_counts() -> dict[str, float]:
    """groupie_keyring_calls_total by operation, as /metrics would show for this process."""
    from prometheus_client import REGISTRY

    def value(operation: str, result: str) -> float:
        labels = {"operation": operation, "result": result}
        return REGISTRY.get_sample_value("groupie_keyring_calls_total", labels) or 0.0

    return {name: sum(value(*s) for s in series) for name, series in METRIC_OPERATIONS.items()}


@dataclass
class Step:
    """One management command run: its time, keyring calls and output."""

    name: str
    seconds: float
    keyring: dict[str, int]
    metric: dict[str, int]
    ok: bool
    output: list[str]
    machine: dict[str, Any]  # CPUs, and the share of them other processes took meanwhile


class Measurer:
    def __init__(self) -> None:
        from messages import sealing

        chat_keys = sealing.chat_keys()
        if sealing.get_keyring() is not chat_keys.keyring:
            raise RuntimeError("the commands' keyring is not the configured instance")
        self.keyring = chat_keys.keyring
        self.calls = KeyringCalls(self.keyring)
        self.steps: dict[str, Step] = {}
        self.failures: list[str] = []

    def run(self, label: str, command: str, *args: str) -> Step:
        """Runs a management command as manage.py would; a failure is recorded, not raised."""
        from django.core.management import call_command
        from django.core.management.base import CommandError

        out, err = io.StringIO(), io.StringIO()
        calls, metric = self.calls.snapshot(), metric_counts()
        print(f"  {label} …", file=sys.stderr, flush=True)
        cpu = api_pages.cpu_snapshot(-1)  # -1: no server; only this process counts as ours
        started = time.perf_counter()
        ok = True
        try:
            call_command(command, *args, "--no-progress", stdout=out, stderr=err)
        except CommandError as exc:
            ok = False
            err.write(f"CommandError: {exc}\n")
        seconds = time.perf_counter() - started
        machine = api_pages.machine_facts(cpu, api_pages.cpu_snapshot(-1))
        after = metric_counts()
        step = Step(
            name=command,
            seconds=round(seconds, 3),
            keyring=dict(self.calls.snapshot() - calls),
            metric={op: int(after[op] - metric[op]) for op in METRIC_OPERATIONS},
            ok=ok,
            output=(out.getvalue() + err.getvalue()).splitlines()[-20:],
            machine=machine,
        )
        print(f"  {label}: {seconds:.2f} s, keyring {step.keyring}", file=sys.stderr, flush=True)
        if not ok:
            self.failures.append(f"{label} failed: {' | '.join(step.output[-3:])}")
        self.steps[label] = step
        return step


# The SQL below is built from the constants above only: no value from outside reaches it.
COUNTED_TABLES = (*RECORD_TABLES, KEY_TABLE)
TRIGGERS = {
    (table, op): (
        f"CREATE TRIGGER bench_{table}_{op.lower()} AFTER {op} ON {table} FOR EACH ROW "  # noqa: S608
        f"BEGIN UPDATE {COUNTER_TABLE} SET n = n + 1 WHERE tbl = '{table}' AND op = '{op}'; END"
    )
    for table in COUNTED_TABLES
    for op in OPERATIONS
}
CREATE_COUNTER = (
    f"CREATE TABLE {COUNTER_TABLE} (tbl TEXT NOT NULL, op TEXT NOT NULL, "
    "n INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, op))"
)
INSERT_COUNTER = f"INSERT INTO {COUNTER_TABLE} (tbl, op) VALUES (%s, %s)"  # noqa: S608
SELECT_COUNTERS = f"SELECT tbl, op, n FROM {COUNTER_TABLE}"  # noqa: S608


def install_triggers() -> None:
    """A counter row per (table, operation), bumped by an AFTER trigger on every row written."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(CREATE_COUNTER)
        for (table, op), trigger in TRIGGERS.items():
            cursor.execute(INSERT_COUNTER, [table, op])
            cursor.execute(trigger)


def row_writes() -> dict[str, dict[str, int]]:
    from django.db import connection

    counts: dict[str, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(SELECT_COUNTERS)
        for table, op, n in cursor.fetchall():
            counts.setdefault(table, {})[op.lower()] = int(n)
    return counts


def drop_triggers() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table, op in TRIGGERS:
            cursor.execute(f"DROP TRIGGER bench_{table}_{op.lower()}")
        cursor.execute(f"DROP TABLE {COUNTER_TABLE}")


DIGESTS = {  # every column of every row, the envelope (a blob) last
    "archive_message": (
        "SELECT id, chat_id, message_id, sort_key, date, edit_date, kind, thread_id, sender_id, "
        "reply_to_message_id, media_group_id, key_version, version_count, envelope "
        "FROM archive_message ORDER BY id"
    ),
    "archive_messagerevision": (
        "SELECT id, chat_id, message_id, edit_date, key_version, envelope "
        "FROM archive_messagerevision ORDER BY id"
    ),
    "archive_chat": (
        "SELECT chat_id, type, first_date, last_date, message_count, migrated_to_chat_id, "
        "migrated_from_chat_id, sealed_title FROM archive_chat ORDER BY chat_id"
    ),
}


def digests() -> dict[str, dict[str, Any]]:
    """A SHA-256 over every row of each record table, and its row count."""
    from django.db import connection

    found = {}
    with connection.cursor() as cursor:
        for table, query in DIGESTS.items():
            digest, rows = hashlib.sha256(), 0
            cursor.execute(query)
            while chunk := cursor.fetchmany(5000):
                for row in chunk:
                    digest.update(repr(row[:-1]).encode())
                    digest.update(bytes(row[-1] or b""))
                    rows += 1
            found[table] = {"rows": rows, "sha256": digest.hexdigest()}
    return found


def key_facts() -> dict[str, Any]:
    """Chat-key versions by state and KEK version."""
    from messages.models import ChatKey

    rows = ChatKey.objects.values_list("state", "kek_version")
    by = Counter(f"{state}@kek{kek}" for state, kek in rows)
    return {"rows": sum(by.values()), "by_state_and_kek": dict(sorted(by.items()))}


def key_version_counts() -> dict[str, dict[int, int]]:
    """Heads and revisions by the chat-key version they are sealed with."""
    from django.db.models import Count

    from messages.models import Message, MessageRevision

    found = {}
    for name, model in (("heads", Message), ("revisions", MessageRevision)):
        counts = model.objects.values("key_version").annotate(n=Count("*")).order_by()
        found[name] = {r["key_version"]: r["n"] for r in counts}
    return found


def measure_main() -> None:
    """One archive: rounds of rotate_kek + rewrap_keys (counted, digests, triggers), verify with
    the old KEK versions out of service, then the re-encryption baseline. Options as JSON on
    stdin, results on stdout."""
    import django

    django.setup()
    payload = json.loads(sys.stdin.read())
    m = Measurer()
    facts: dict[str, Any] = {"keys_before": key_facts(), "versions_before": key_version_counts()}
    facts["chat_keys"] = sum(
        n for label, n in facts["keys_before"]["by_state_and_kek"].items() if "active" in label
    )
    install_triggers()
    before = digests()
    facts["kek_before"] = m.keyring.primary_version()
    for n in range(1, payload["rounds"] + 1):
        m.run(f"rotate_kek #{n}", "rotate_kek")
        m.run(f"rewrap_keys #{n}", "rewrap_keys")
    facts["kek_after"] = primary = m.keyring.primary_version()
    facts["row_writes"] = row_writes()
    facts["digests_before"], facts["digests_after"] = before, digests()
    facts["keys_after_rewrap"] = key_facts()
    check_rewrap(m, facts, payload["rounds"])

    m.run("rewrap_keys again", "rewrap_keys")
    again = m.steps["rewrap_keys again"].keyring
    if again.get("wrap", 0) or again.get("unwrap", 0):
        m.failures.append(f"a second rewrap_keys still called the keyring: {again}")
    # Every older KEK version stops decrypting; configure_kek refuses while a chat key needs one.
    m.run(
        "configure_kek --min-decryption-version",
        "configure_kek",
        "--min-decryption-version",
        primary,
    )
    m.run("verify_archive", "verify_archive")
    drop_triggers()

    if payload["baseline"]:
        m.run("rotate_chat_keys", "rotate_chat_keys")
        m.run("reencrypt_messages", "reencrypt_messages")
        facts["versions_after_reencrypt"] = key_version_counts()
        facts["keys_after_reencrypt"] = key_facts()
        check_baseline(m, facts)

    result = {
        **facts,
        "steps": {label: asdict(step) for label, step in m.steps.items()},
        "failures": m.failures,
    }
    print(json.dumps(result))


def check_rewrap(m: Measurer, facts: dict[str, Any], rounds: int) -> None:
    """The functional claims: nothing but chat keys written, two keyring calls per chat key."""
    chat_keys, primary = facts["chat_keys"], facts["kek_after"]
    for table in RECORD_TABLES:
        written = facts["row_writes"][table]
        if any(written.values()):
            m.failures.append(f"rotate_kek + rewrap_keys wrote rows of {table}: {written}")
    key_writes = facts["row_writes"][KEY_TABLE]
    if key_writes != {"insert": 0, "update": rounds * chat_keys, "delete": 0}:
        m.failures.append(f"chat-key rows written: {key_writes}, expected {rounds} x {chat_keys}")
    if facts["digests_before"] != facts["digests_after"]:
        m.failures.append("a record table's digest changed across rotate_kek + rewrap_keys")
    under = facts["keys_after_rewrap"]["by_state_and_kek"]
    if under != {f"active@kek{primary}": chat_keys}:
        m.failures.append(f"chat keys after rewrap_keys: {under}, not all under KEK {primary}")
    for n in range(1, rounds + 1):
        rotate, rewrap = m.steps[f"rotate_kek #{n}"], m.steps[f"rewrap_keys #{n}"]
        if rotate.keyring.get("rotate") != 1 or rotate.keyring.get("wrap", 0):
            m.failures.append(f"rotate_kek #{n} keyring calls: {rotate.keyring}")
        if rewrap.keyring.get("wrap") != chat_keys or rewrap.keyring.get("unwrap") != chat_keys:
            m.failures.append(f"rewrap_keys #{n} keyring calls {rewrap.keyring}, {chat_keys} keys")
        counted = {op: rewrap.keyring.get(op, 0) for op in ("wrap", "unwrap")}
        if {op: rewrap.metric[op] for op in counted} != counted:
            m.failures.append(f"rewrap_keys #{n}: the metric shows {rewrap.metric}, not {counted}")


def check_baseline(m: Measurer, facts: dict[str, Any]) -> None:
    """The baseline did its job: every head and revision re-sealed under the new chat keys."""
    before, after = facts["versions_before"], facts["versions_after_reencrypt"]
    for name in ("heads", "revisions"):
        if list(after[name]) != [2] or after[name][2] != sum(before[name].values()):
            m.failures.append(f"{name} by key version after reencrypt_messages: {after[name]}")


# -- the run (plain Python) ----------------------------------------------------------------------


def django_subprocess(env: dict[str, str], entry: str, payload: dict[str, Any]) -> Any:
    """Runs ``entry`` of this module in a Django process: payload on stdin, its last stdout line
    (JSON) returned; its stderr (progress) goes to ours."""
    code = f"from bench.rotation import {entry}; {entry}()"
    done = subprocess.run(
        [str(common.BIN / "python"), "-c", code],
        cwd=ROOT,
        env=env,
        input=json.dumps(payload),
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{entry} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="the big archive's size")
    parser.add_argument(
        "--small-messages", type=int, help="the small archive's size (default: a tenth)"
    )
    parser.add_argument("--chats", type=int, default=1000, help="chats, the same at both sizes")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated archive")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rotate_kek + rewrap_keys rounds per size; the median time is reported",
    )
    parser.add_argument(
        "--big-baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also re-encrypt the big archive (the baseline; the longest step by far)",
    )
    args = parser.parse_args()
    args.small_messages = args.small_messages or args.messages // 10
    if args.chats < 1 or args.small_messages < args.chats:
        parser.error("every chat needs a message: --small-messages must be at least --chats")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.messages <= args.small_messages:
        parser.error("--messages must be more than --small-messages")
    return args


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    params = Params(args.messages, args.chats, args.seed)
    small_dir = tmp / f"archive-{args.small_messages}"
    # The loader's chat-key cache holds every chat's key, as a long-running server's would.
    cache = str(max(1000, 2 * args.chats))
    env = common.bench_env(tmp, None, GROUPIE_CHAT_KEY_CACHE_SIZE=cache)
    common.migrate(env, capture=True)
    common.manage(env, "init_keyring", capture=True)
    payload = {"params": asdict(params), "snapshots": {args.small_messages: str(small_dir)}}
    loaded = django_subprocess(env, "loader_main", payload)
    print(f"archive: loaded {loaded[-1]['messages']:,} messages in {loaded[-1]['seconds']} s")
    archives = [(loaded[0], small_dir, True), (loaded[1], tmp, args.big_baseline)]
    sizes = []
    for archive, directory, baseline in archives:
        print(f"measuring {archive['messages']:,} messages:", flush=True)
        measure_env = common.bench_env(
            tmp,
            None,
            DATABASE_URL=f"sqlite:///{directory / DATABASE}",
            LOCAL_KEYRING_PATH=str(directory / KEYRING),
        )
        payload = {"baseline": baseline, "rounds": args.rounds}
        measured = django_subprocess(measure_env, "measure_main", payload)
        sizes.append({**archive, **measured})
    return {
        "database": "sqlite",
        "code": api_pages.code_version(),
        "params": {**asdict(params), "small_messages": args.small_messages, "rounds": args.rounds},
        "sizes": sizes,
    }


def rounds_of(size: dict[str, Any], command: str) -> list[dict[str, Any]]:
    return [step for label, step in size["steps"].items() if label.startswith(f"{command} #")]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ratios(summary: dict[str, Any]) -> dict[str, Any]:
    """Per size: rewrap_keys' median time, keyring calls per chat key and per message, and its
    time over the baseline's; across sizes: big over small."""
    found: dict[str, Any] = {}
    for name, size in zip(("small", "big"), summary["sizes"], strict=True):
        rewraps = rounds_of(size, "rewrap_keys")
        seconds = median([step["seconds"] for step in rewraps])
        calls = [
            step["keyring"].get("wrap", 0) + step["keyring"].get("unwrap", 0) for step in rewraps
        ]
        found[name] = {
            "messages": size["messages"],
            "rewrap_seconds": [step["seconds"] for step in rewraps],
            "rewrap_median_seconds": seconds,
            "rewrap_ms_per_chat_key": round(1000 * seconds / size["chat_keys"], 3),
            "keyring_calls_per_chat_key": round(max(calls) / size["chat_keys"], 3),
            "keyring_calls_per_message": round(max(calls) / size["messages"], 5),
        }
        reencrypt = size["steps"].get("reencrypt_messages")
        if reencrypt:
            found[name]["reencrypt_seconds"] = reencrypt["seconds"]
            found[name]["reencrypt_us_per_revision"] = round(
                1e6 * reencrypt["seconds"] / size["revisions"], 1
            )
            found[name]["rewrap_over_reencrypt"] = round(seconds / reencrypt["seconds"], 4)
    small, big = found["small"], found["big"]
    found["messages_big_over_small"] = round(big["messages"] / small["messages"], 2)
    found["rewrap_big_over_small"] = round(
        big["rewrap_median_seconds"] / small["rewrap_median_seconds"], 3
    )
    return found


def print_report(summary: dict[str, Any]) -> None:
    sizes, r = summary["sizes"], summary["ratios"]
    per_size = [r["small"], r["big"]]
    rounds = summary["params"]["rounds"]

    def row(label: str, values: list[str]) -> None:
        print(f"{label:46}" + "".join(f"{v:>17}" for v in values))

    def step(size: dict[str, Any], label: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = size["steps"].get(label)
        return found

    def seconds(label: str) -> list[str]:
        return [f"{s['seconds']:.2f} s" if (s := step(z, label)) else "—" for z in sizes]

    def calls(label: str, *ops: str) -> list[str]:
        return [
            " / ".join(f"{s['keyring'].get(op, 0):,}" for op in ops)
            if (s := step(z, label))
            else "—"
            for z in sizes
        ]

    def each_round(command: str, show: Callable[[dict[str, Any]], str]) -> list[str]:
        values = []
        for z in sizes:
            shown = {show(s) for s in rounds_of(z, command)}
            values.append(shown.pop() if len(shown) == 1 else "varies: " + ", ".join(shown))
        return values

    def share(label: str) -> list[str]:
        return [
            f"{others:.0%}"
            if (s := step(z, label)) and (others := s["machine"]["other_cpu_share"]) is not None
            else "—"
            for z in sizes
        ]

    print()
    row("archive (1 revision per message, 1 per edit)", [f"{z['messages']:,} msgs" for z in sizes])
    row("  revisions / chats", [f"{z['revisions']:,} / {z['chats']:,}" for z in sizes])
    row("  chat keys", [f"{z['chat_keys']:,}" for z in sizes])
    row(
        f"rotate_kek, median of {rounds}",
        [f"{median([s['seconds'] for s in rounds_of(z, 'rotate_kek')]):.2f} s" for z in sizes],
    )
    row(
        "  keyring rotate / wrap / unwrap, each round",
        each_round(
            "rotate_kek",
            lambda s: " / ".join(
                str(s["keyring"].get(op, 0)) for op in ("rotate", "wrap", "unwrap")
            ),
        ),
    )
    row(
        f"rewrap_keys, median of {rounds}",
        [f"{x['rewrap_median_seconds']:.2f} s" for x in per_size],
    )
    row("  each round", [" ".join(f"{v:.2f}" for v in x["rewrap_seconds"]) for x in per_size])
    row("  per chat key", [f"{x['rewrap_ms_per_chat_key']:.2f} ms" for x in per_size])
    row(
        "  keyring wrap / unwrap, each round",
        each_round(
            "rewrap_keys",
            lambda s: f"{s['keyring'].get('wrap', 0):,} / {s['keyring'].get('unwrap', 0):,}",
        ),
    )
    row(
        "  metric wrap / unwrap, each round",
        each_round("rewrap_keys", lambda s: f"{s['metric']['wrap']:,} / {s['metric']['unwrap']:,}"),
    )
    row(
        "  keyring calls per chat key / per message",
        [
            f"{x['keyring_calls_per_chat_key']:.2f} / {x['keyring_calls_per_message']:.3f}"
            for x in per_size
        ],
    )
    row(
        "  rows written: messages, revisions, chats",
        [" / ".join(str(sum(z["row_writes"][t].values())) for t in RECORD_TABLES) for z in sizes],
    )
    row(
        "  chat-key rows updated (all rounds)",
        [f"{z['row_writes'][KEY_TABLE]['update']:,}" for z in sizes],
    )
    row(
        "  digests of every record, before = after",
        ["same" if z["digests_before"] == z["digests_after"] else "CHANGED" for z in sizes],
    )
    row("rewrap_keys again (nothing to move)", seconds("rewrap_keys again"))
    row("  keyring wrap / unwrap", calls("rewrap_keys again", "wrap", "unwrap"))
    row("configure_kek --min-decryption-version", seconds("configure_kek --min-decryption-version"))
    row("verify_archive (older KEK versions off)", seconds("verify_archive"))
    row(
        "  result",
        ["passed" if (s := step(z, "verify_archive")) and s["ok"] else "FAILED" for z in sizes],
    )
    row("  keyring unwrap", calls("verify_archive", "unwrap"))
    row("baseline: rotate_chat_keys", seconds("rotate_chat_keys"))
    row("  keyring wrap / unwrap", calls("rotate_chat_keys", "wrap", "unwrap"))
    row("baseline: reencrypt_messages", seconds("reencrypt_messages"))
    row(
        "  per revision",
        [
            f"{x['reencrypt_us_per_revision']:.0f} µs" if "reencrypt_seconds" in x else "—"
            for x in per_size
        ],
    )
    row("  keyring wrap / unwrap", calls("reencrypt_messages", "wrap", "unwrap"))
    row(
        "rewrap_keys / reencrypt_messages",
        [
            f"{x['rewrap_over_reencrypt']:.4f}" if "rewrap_over_reencrypt" in x else "—"
            for x in per_size
        ],
    )
    row("other processes' CPU share: last rewrap", share(f"rewrap_keys #{rounds}"))
    row("                             reencrypt", share("reencrypt_messages"))

    small, big = per_size
    chat_keys = sizes[-1]["chat_keys"]
    print(
        f"\nrewrap_keys: {r['messages_big_over_small']:.0f}x the messages, "
        f"{r['rewrap_big_over_small']:.2f}x the time (median "
        f"{small['rewrap_median_seconds']:.2f} s -> {big['rewrap_median_seconds']:.2f} s; "
        f"{big['rewrap_ms_per_chat_key']:.1f} ms per chat key, {chat_keys:,} chat keys at both "
        "sizes)."
    )
    print(
        f"keyring: {small['keyring_calls_per_chat_key']:.2f} and "
        f"{big['keyring_calls_per_chat_key']:.2f} calls (wrap + unwrap) per chat key; "
        f"{small['keyring_calls_per_message']:.3f} and {big['keyring_calls_per_message']:.3f} "
        "per message."
    )
    written = [sum(sum(z["row_writes"][t].values()) for t in RECORD_TABLES) for z in sizes]
    same = all(z["digests_before"] == z["digests_after"] for z in sizes)
    print(
        f"records: {written[0]} and {written[1]} rows of {', '.join(RECORD_TABLES)} inserted, "
        "updated or deleted during the rounds (SQLite triggers); digests of every row "
        f"{'identical' if same else 'CHANGED'} before and after."
    )
    for x in per_size:
        if "rewrap_over_reencrypt" in x:
            print(
                f"baseline at {x['messages']:,} messages: re-encrypting every message took "
                f"{x['reencrypt_seconds']:.1f} s; rewrap_keys took "
                f"{x['rewrap_over_reencrypt']:.4f} of that ({1 / x['rewrap_over_reencrypt']:.0f}x "
                "less)."
            )
    busy = [  # the timed steps long enough for the CPU accounting's 10 ms ticks
        min(1.0, s["machine"]["other_cpu_share"] or 0.0)
        for z in sizes
        for label, s in z["steps"].items()
        if label.startswith("rewrap_keys #") or label == "reencrypt_messages"
    ]
    if max(busy, default=0.0) > 0.1:
        print(
            f"WARNING: other processes took up to {max(busy):.0%} of the machine's CPUs during a "
            "timed step: the times are inflated and noisy."
        )
    failures = summary["functional_failures"]
    print(f"functional checks: {'OK' if not failures else 'FAILED: ' + '; '.join(failures)}")
    print(f"command: {summary['command']}")


def main() -> int:
    args = parse_args()
    command = common.command_line()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="groupie-bench-rotation-") as name:
        summary = {"command": command, **run(args, Path(name))}
    summary["ratios"] = ratios(summary)
    summary["functional_failures"] = [
        f"{size['messages']:,} messages: {failure}"
        for size in summary["sizes"]
        for failure in size["failures"]
    ]
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print_report(summary)
    print(f"whole run: {summary['seconds']:.0f} s")
    print(f"results: {common.write_results(summary, 'rotation')}")
    return 1 if summary["functional_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
