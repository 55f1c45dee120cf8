"""API page benchmark: a first and a deep keyset page of GET /api/v1/messages/, and unwraps.

Loads a throwaway archive (a temporary SQLite file, or an emptied PostgreSQL database with
``--database-url``) of real-shaped Telegram messages spread over many chats, starts gunicorn as
``make run`` does (debug off) and, with an API key from ``manage.py create_api_key``:

* walks the whole archive with the ``next`` links (page_size 500), checking that every message
  comes back exactly once, in order, decrypted, and that a sample reads as it was sealed;
* times the first page (page_size 100) against a page 100,000 rows deep (its cursor is the
  walk's ``next`` link at that depth, with page_size set back to 100: a cursor does not depend
  on the page size). The times are wall times of HTTP requests over a keep-alive loopback
  connection (httpx, in this process), so they include loopback HTTP, not only the app;
* counts keyring unwraps per page (``groupie_keyring_calls_total{operation="unwrap"}`` on
  /metrics before and after): cold is the first request for the page on a freshly started
  server, warm the same request again. These servers run ONE worker (WEB_CONCURRENCY=1):
  each gunicorn worker has its own chat-key cache, so with two the warm request could land on
  the other, still cold, worker.

Loading takes a bulk path for speed. It skips put_message's per-message transaction (row lock,
revision check, chat-directory update per message) but uses the same sealing and the same
tables: each message is sealed with ``messages.sealing.seal`` under its chat's real key (created
and wrapped by the keyring through ChatKeys and the store, as archive() does) with the identity
``messages.services.message_identity(chat_id, message_id, 0)``, the plaintext is
``messages.services.sealed_plaintext`` of the Telegram message, as archive() seals it, and the
index fields come from ``webhooks.updates.parse_update``. Message rows (version_count 1; the
head holds the only version, so no revision row) are bulk-inserted in batches, then the Chat
directory rows (counts, first/last date, the title sealed with ``title_identity``). A loaded
SQLite archive is cached under var/bench-cache/, keyed by the parameters and the migrations
(``--no-cache`` to rebuild).
PostgreSQL is loaded each run and ANALYZEd afterwards, as autovacuum would soon do on a live
database.

Performance targets are reported, not asserted: the exit status is non-zero only for a
functional failure (an error status, a message that failed to decrypt or reads differently
from what was sealed, a duplicate or out-of-order message, or a walk that misses messages).

    .venv/bin/python bench/api_pages.py [--messages 200000] [--chats 120] [--repeat 50]
        [--database-url postgres://.../groupie_bench_api]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

try:
    from bench import common
except ImportError:  # run as a script (python bench/api_pages.py): bench/ itself is on sys.path
    import common  # type: ignore[no-redef]

ROOT = common.ROOT
CACHE_DIR = ROOT / "var" / "bench-cache"
MESSAGES_PATH = "/api/v1/messages/"
GENERATOR_VERSION = 1  # bump when the generated archive changes: it keys the cache

PAGE_SIZE = 100
WALK_PAGE_SIZE = 500
BATCH_SIZE = 2000
WARMUP = 5
SAMPLE_EVERY = 499  # every n-th generated message is checked against what the walk returns

FIRST_P50_TARGET_MS = 30.0
RATIO_TARGET = 1.3  # deep p50 / first p50, at most

# -- the generated archive (plain Python: no Django) ---------------------------------------------

CHAT_BASE = 1009000000000  # supergroup ids -100... as Telegram gives them
USER_BASE = 5200000000
USERS = 600
DATE_BASE = 1735689600  # 2025-01-01T00:00:00Z
MAX_GAP = 150  # seconds between consecutive messages, at most: ~200,000 messages a year
TOPICS = (
    "Release train",
    "Клуб «Релиз»",
    "Kaffeeküche",
    "東京オフィス",
    "Ομάδα υποδομών",
    "Design crit",
    "Parents of 3B",
    "Hiking — Alps 2025",
)
FIRST_NAMES = ("Marguerite", "Oskar", "Анастасия", "Yūki", "Δημήτρης", "Fatima", "Liang", "Søren")
LAST_NAMES = ("Quillfeather", "Lindqvist", "Соколова", "Tanaka", "Παπαδόπουλος", "Haddad", "Wei")
SENTENCES = (
    "The release checklist for build 4.2 is ready.",
    "Проверьте, пожалуйста, до пятницы.",
    "東京チームも確認済みです。",
    "Ελέγχθηκε χθες το βράδυ.",
    "Can someone take the on-call shift on Sunday?",
    "I pushed the fix; CI is green again 🎉",
    "Meeting moved to 15:30, same room.",
    "Here is the link: https://example.org/docs/runbook#rollback",
    "Danke, das passt so!",
    "Who has the key to the storage room?",
    "Reminder: the invoice is due on the 5th.",
    "lol 😂",
)
POLL_OPTIONS = ("Yes", "No", "Later", "Нет", "はい")


@dataclass(frozen=True)
class Params:
    messages: int
    chats: int
    seed: int


@dataclass(frozen=True)
class ChatSpec:
    chat_id: int
    type: str
    title: str
    forum: bool

    def telegram(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "title": self.title, "type": self.type}
        if self.forum:
            chat["is_forum"] = True
        return chat


def chat_specs(params: Params) -> list[ChatSpec]:
    return [
        ChatSpec(
            chat_id=-(CHAT_BASE + index),
            type="group" if index % 10 == 9 else "supergroup",
            title=f"{TOPICS[index % len(TOPICS)]} #{index}",
            forum=index % 7 == 3,
        )
        for index in range(params.chats)
    ]


def generate(params: Params) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(seq, Telegram Update, the kind it was made as), in date order; deterministic."""
    specs = chat_specs(params)
    rng = random.Random(params.seed)
    # A few busy chats and a long tail, as in real archives (Zipf-like).
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(specs))]
    picks = rng.choices(range(len(specs)), weights=weights, k=params.messages)
    last_ids = [0] * len(specs)
    date = DATE_BASE
    for seq, index in enumerate(picks):
        date += rng.randrange(MAX_GAP)
        last_ids[index] += 1
        message, kind = telegram_message(rng, specs[index], last_ids[index], date)
        yield seq, {"update_id": 800000000 + seq, "message": message}, kind


def telegram_message(
    rng: random.Random, chat: ChatSpec, message_id: int, date: int
) -> tuple[dict[str, Any], str]:
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": telegram_user(rng.randrange(USERS)),
        "chat": chat.telegram(),
        "date": date,
    }
    if chat.forum and rng.random() < 0.8:
        message["message_thread_id"] = rng.choice((1, 2, 3, 5, 8))
        message["is_topic_message"] = True
    if message_id > 1 and rng.random() < 0.15:
        message["reply_to_message"] = {
            "message_id": rng.randrange(max(1, message_id - 50), message_id),
            "from": telegram_user(rng.randrange(USERS)),
            "chat": chat.telegram(),
            "date": date - rng.randrange(1, 3600),
            "text": rng.choice(SENTENCES),
        }
    kind = rng.choices(list(CONTENT), weights=[w for w, _ in CONTENT.values()])[0]
    message.update(CONTENT[kind][1](rng))
    return message, kind


def telegram_user(user: int) -> dict[str, Any]:
    person: dict[str, Any] = {
        "id": USER_BASE + user,
        "is_bot": user % 50 == 49,
        "first_name": FIRST_NAMES[user % len(FIRST_NAMES)],
    }
    if user % 3:
        person["last_name"] = LAST_NAMES[user % len(LAST_NAMES)]
    if user % 4:
        person["username"] = f"user_{user}" + ("_bot" if person["is_bot"] else "")
    person["language_code"] = ("en", "ru", "ja", "el", "de")[user % 5]
    return person


def _text(rng: random.Random) -> str:
    return " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))


def _file(rng: random.Random, prefix: str) -> dict[str, Any]:
    token = f"{rng.getrandbits(128):032x}"
    return {
        "file_id": f"{prefix}AgACAgIAAxkBAAI{token}",
        "file_unique_id": f"AQAD{token[:12]}",
        "file_size": rng.randrange(2_000, 5_000_000),
    }


def text_content(rng: random.Random) -> dict[str, Any]:
    text = _text(rng)
    content: dict[str, Any] = {"text": text}
    if rng.random() < 0.3:
        content["entities"] = [{"offset": 0, "length": min(len(text), 8), "type": "bold"}]
    return content


def photo_content(rng: random.Random) -> dict[str, Any]:
    sizes = [
        {**_file(rng, "p"), "width": width, "height": height}
        for width, height in ((90, 67), (320, 240), (1280, 960))
    ]
    content: dict[str, Any] = {"photo": sizes}
    if rng.random() < 0.5:
        content["caption"] = _text(rng)
    if rng.random() < 0.3:
        content["media_group_id"] = str(13000000000000000 + rng.getrandbits(40))
    return content


def document_content(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(("report-Q3.pdf", "Протокол.docx", "budget.xlsx", "photo.heic"))
    return {
        "document": {**_file(rng, "d"), "file_name": name, "mime_type": "application/pdf"},
        "caption": _text(rng),
    }


def sticker_content(rng: random.Random) -> dict[str, Any]:
    sticker = {"width": 512, "height": 512, "emoji": rng.choice("👍😂🎉🙏"), "type": "regular"}
    return {"sticker": {**sticker, **_file(rng, "s"), "set_name": "Bench", "is_animated": False}}


def voice_content(rng: random.Random) -> dict[str, Any]:
    return {
        "voice": {**_file(rng, "v"), "duration": rng.randrange(1, 120), "mime_type": "audio/ogg"}
    }


def video_content(rng: random.Random) -> dict[str, Any]:
    video = {"duration": rng.randrange(1, 300), "width": 1280, "height": 720}
    return {"video": {**_file(rng, "m"), **video, "mime_type": "video/mp4"}, "caption": _text(rng)}


def poll_content(rng: random.Random) -> dict[str, Any]:
    options = [{"text": text, "voter_count": 0} for text in rng.sample(POLL_OPTIONS, 3)]
    poll = {"id": str(rng.getrandbits(62)), "question": _text(rng), "options": options}
    return {"poll": {**poll, "total_voter_count": 0, "is_closed": False, "is_anonymous": True}}


def service_content(rng: random.Random) -> dict[str, Any]:
    member = telegram_user(rng.randrange(USERS))
    return {"new_chat_members": [member], "new_chat_member": member}


CONTENT = {  # kind: (share, builder)
    "text": (72, text_content),
    "photo": (10, photo_content),
    "document": (4, document_content),
    "sticker": (5, sticker_content),
    "voice": (3, voice_content),
    "video": (3, video_content),
    "poll": (1, poll_content),
    "service": (2, service_content),
}


def expected_sample(params: Params) -> dict[str, dict[str, Any]]:
    """What the API should show for every SAMPLE_EVERY-th message, by its API id."""
    sample = {}
    for seq, update, kind in generate(params):
        if seq % SAMPLE_EVERY == 0:
            message = update["message"]
            sample[f"{message['chat']['id']}:{message['message_id']}"] = {
                "text": message.get("text", message.get("caption")),
                "sender_id": message["from"]["id"],
                "kind": kind,
            }
    return sample


# -- loading (runs in a Django subprocess) -------------------------------------------------------


@dataclass
class ChatTally:
    type: str
    title: str
    count: int = 0
    first_date: int = 0
    last_date: int = 0

    def add(self, date: int) -> None:
        self.first_date = min(self.first_date, date) if self.count else date
        self.last_date = max(self.last_date, date)
        self.count += 1


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def loader_main() -> None:
    """Entry point of the loading subprocess: Params as JSON on stdin, a summary on stdout."""
    import django

    django.setup()
    params = Params(**json.loads(sys.stdin.read()))
    started = time.perf_counter()
    tallies = load_messages(params)
    write_chats(tallies)
    finish_database()
    summary = {
        "messages": sum(t.count for t in tallies.values()),
        "chats": len(tallies),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))


def load_messages(params: Params) -> dict[int, ChatTally]:
    from django.db import transaction
    from tqdm import tqdm  # type: ignore[import-untyped]

    from messages.models import Message, MessageRevision

    tallies: dict[int, ChatTally] = {}
    with tqdm(total=params.messages, unit="msg", desc="seal + insert", smoothing=0.1) as bar:
        for batch in batched(generate(params), BATCH_SIZE):
            heads, revisions = sealed_rows([update for _, update, _ in batch], tallies)
            with transaction.atomic():
                Message.objects.bulk_create(heads)
                MessageRevision.objects.bulk_create(revisions)
            bar.update(len(batch))
    return tallies


def sealed_rows(
    updates: list[dict[str, Any]], tallies: dict[int, ChatTally]
) -> tuple[list[Any], list[Any]]:
    """Message and MessageRevision rows, sealed exactly as archive() seals a message."""
    from messages.telegram import IncomingMessage
    from webhooks.updates import parse_update

    heads, revisions = [], []
    for update in updates:
        incoming = parse_update(update)
        assert isinstance(incoming, IncomingMessage)  # noqa: S101 - generated messages only
        head = head_row(incoming)
        heads.append(head)  # the head holds the only version: no revision row
        tally = tallies.setdefault(
            head.chat_id, ChatTally(incoming.chat_type, incoming.chat_title or "")
        )
        tally.add(incoming.date)
    return heads, revisions


def revision_row(head: Any) -> Any:
    """A head's version as a MessageRevision row: put_message stores one when an edit
    supersedes that version."""
    from messages.models import MessageRevision

    return MessageRevision(
        chat_id=head.chat_id,
        message_id=head.message_id,
        edit_date=head.edit_date,
        key_version=head.key_version,
        envelope=head.envelope,
    )


def head_row(incoming: Any) -> Any:
    """The Message row archive() would store for this IncomingMessage, with its envelope."""
    from crypto.envelope import key_version_of, message_identity
    from messages import sealing, sortkey
    from messages.models import Message
    from messages.services import sealed_plaintext

    chat_id, message_id = incoming.chat_id, incoming.message_id
    identity = message_identity(chat_id, message_id, incoming.edit_date)
    sealed = sealing.seal(chat_id, identity, sealed_plaintext(incoming.raw))
    return Message(
        chat_id=chat_id,
        message_id=message_id,
        sort_key=sortkey.sort_key(incoming.date, chat_id, message_id),
        date=incoming.date,
        edit_date=incoming.edit_date,
        kind=incoming.kind,
        thread_id=incoming.thread_id,
        sender_id=incoming.sender_id,
        reply_to_message_id=incoming.reply_to_message_id,
        media_group_id=incoming.media_group_id,
        key_version=key_version_of(sealed),
        envelope=sealed,
        version_count=1,
    )


def write_chats(tallies: dict[int, ChatTally]) -> None:
    """The chat directory, as put_message leaves it: counts, dates and the sealed title."""
    from crypto.envelope import title_identity
    from messages import sealing
    from messages.models import Chat

    rows = [
        Chat(
            chat_id=chat_id,
            type=tally.type,
            sealed_title=sealing.seal(chat_id, title_identity(chat_id), tally.title.encode()),
            first_date=tally.first_date,
            last_date=tally.last_date,
            message_count=tally.count,
        )
        for chat_id, tally in tallies.items()
    ]
    Chat.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["chat_id"],
        update_fields=["type", "sealed_title", "first_date", "last_date", "message_count"],
    )


def finish_database() -> None:
    """SQLite: fold the WAL into the file (so it can be cached). PostgreSQL: fresh statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            cursor.execute("ANALYZE")
    connection.close()


# -- environment, database, server ---------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages to load")
    parser.add_argument("--chats", type=int, default=120, help="chats they are spread over")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated archive")
    parser.add_argument("--depth", type=int, default=100_000, help="rows before the deep page")
    parser.add_argument("--repeat", type=int, default=50, help="timed requests per page")
    common.add_database_url(parser)
    parser.add_argument("--no-cache", action="store_true", help="rebuild the SQLite archive")
    args = parser.parse_args()
    common.check_database_url(parser, args)
    if args.depth <= 0 or args.depth % WALK_PAGE_SIZE:
        parser.error(f"--depth must be a positive multiple of {WALK_PAGE_SIZE}")
    if args.messages < args.depth + PAGE_SIZE:
        parser.error("--messages must leave a full page after --depth rows")
    return args


def cache_path(params: Params) -> Path:
    migrations = sorted(ROOT.glob("*/migrations/0*.py"))
    digest = hashlib.sha256(f"{GENERATOR_VERSION}|{asdict(params)}".encode())
    for path in migrations:
        digest.update(path.name.encode() + path.read_bytes())
    return CACHE_DIR / f"api-pages-{params.messages}-{params.chats}-{digest.hexdigest()[:16]}"


def prepare_archive(
    env: dict[str, str], tmp: Path, params: Params, args: argparse.Namespace
) -> dict[str, Any]:
    """A loaded database and its keyring in ``tmp`` (SQLite: from the cache when it has them)."""
    cached = None if args.database_url else cache_path(params)
    if cached and not args.no_cache and (cached / "done.json").exists():
        for name in ("groupie.db", "keyring.json"):
            shutil.copy2(cached / name, tmp / name)
        common.migrate(env, capture=True)
        print(f"archive: from the cache {cached.relative_to(ROOT)}")
        return {**json.loads((cached / "done.json").read_text()), "cached": True}
    common.migrate(env, flush=bool(args.database_url), capture=True)
    common.manage(env, "init_keyring", capture=True)
    loaded = load_archive(env, params)
    if cached:
        for stale in CACHE_DIR.glob(f"api-pages-{params.messages}-{params.chats}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # older code or seeds: one copy per size
        cached.mkdir(parents=True)
        for name in ("groupie.db", "keyring.json"):
            shutil.copy2(tmp / name, cached / name)
        (cached / "done.json").write_text(json.dumps(loaded))
    return {**loaded, "cached": False}


def load_archive(env: dict[str, str], params: Params) -> dict[str, Any]:
    """Runs ``loader_main`` in a Django subprocess; its progress bar goes to our stderr."""
    code = "from bench.api_pages import loader_main; loader_main()"
    done = subprocess.run(
        [str(common.BIN / "python"), "-c", code],
        cwd=ROOT,
        env=env,
        input=json.dumps(asdict(params)),
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loading failed ({done.returncode})")
    loaded = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"archive: loaded {loaded['messages']} messages in {loaded['seconds']} s")
    return loaded


@contextmanager
def running_server(
    env: dict[str, str], tmp: Path, name: str, **extra: str
) -> Iterator[common.Server]:
    """A server on a free port with ``extra`` in its environment, logging to
    tmp/gunicorn-<name>.log (its tail printed to stdout should anything fail)."""
    metrics_dir = tmp / f"metrics-{name}"  # a fresh Prometheus directory: counters from zero
    metrics_dir.mkdir()
    server_env = {**env, **extra, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    log_path = tmp / f"gunicorn-{name}.log"
    port = common.free_port()
    with common.running_server(server_env, port, log_path, tail_file=sys.stdout) as server:
        yield server


def api_client(server: common.Server, key: str) -> httpx.Client:
    """One keep-alive connection to the server, as a program reading the API would hold."""
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


# -- the walk: every message once, in order, decrypted -------------------------------------------


@dataclass
class Walk:
    depth: int
    expected: dict[str, dict[str, Any]] = field(repr=False)
    pages: int = 0
    rows: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    decrypt_errors: int = 0
    bad_statuses: list[int] = field(default_factory=list)
    sample_checked: int = 0
    sample_mismatches: list[str] = field(default_factory=list)
    deep_cursor: str | None = None
    seconds: float = 0.0
    _seen: set[str] = field(default_factory=set, repr=False)
    _last: tuple[str, int, int] | None = field(default=None, repr=False)

    def check(self, results: list[dict[str, Any]]) -> None:
        for item in results:
            self.rows += 1
            if item["id"] in self._seen:
                self.duplicates += 1
            self._seen.add(item["id"])
            position = (item["date"], item["chat_id"], item["message_id"])
            if self._last is not None and not position < self._last:
                self.out_of_order += 1
            self._last = position
            if item["error"] is not None:
                self.decrypt_errors += 1
            if item["id"] in self.expected:
                self.compare(item, self.expected[item["id"]])

    def compare(self, item: dict[str, Any], expected: dict[str, Any]) -> None:
        self.sample_checked += 1
        sender = (item["sender"] or {}).get("id")
        seen = {"text": item["text"], "sender_id": sender, "kind": item["kind"]}
        if seen != expected:
            self.sample_mismatches.append(item["id"])


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def walk(client: httpx.Client, walk: Walk) -> Walk:
    """Follows the ``next`` links from the first page to the last, checking every row."""
    started = time.perf_counter()
    params: dict[str, Any] = {"page_size": WALK_PAGE_SIZE}
    while True:
        response = client.get(MESSAGES_PATH, params=params)
        if response.status_code != 200:
            walk.bad_statuses.append(response.status_code)
            print(f"walk: HTTP {response.status_code}: {response.text[:500]}", file=sys.stderr)
            break
        body = response.json()
        walk.pages += 1
        walk.check(body["results"])
        if walk.rows == walk.depth and body["next"]:
            walk.deep_cursor = cursor_of(body["next"])
        if not body["next"]:
            break
        params = {"page_size": WALK_PAGE_SIZE, "cursor": cursor_of(body["next"])}
    walk.seconds = round(time.perf_counter() - started, 1)
    return walk


# -- timings and unwraps -------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def timed_get(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    """Milliseconds from sending the request to having the whole body, and the body."""
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    return elapsed, response


@dataclass(frozen=True)
class CpuSnapshot:
    wall: float
    busy: float  # CPU seconds of the whole machine
    ours: float  # CPU seconds of this process and the server's process group


def _clock_ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def cpu_snapshot(server_pgid: int) -> CpuSnapshot | None:
    """Linux /proc accounting, to tell how much of the CPUs other processes took meanwhile."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
        server = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parts = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            if int(parts[2]) == server_pgid:
                server += int(parts[11]) + int(parts[12])
    except (OSError, ValueError, IndexError):
        return None
    own = os.times()
    return CpuSnapshot(
        wall=time.monotonic(),
        busy=(user + nice + system + irq + softirq + steal) / _clock_ticks(),
        ours=server / _clock_ticks() + own.user + own.system,
    )


def machine_facts(before: CpuSnapshot | None, after: CpuSnapshot | None) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    share = None
    if before and after:
        others = (after.busy - before.busy) - (after.ours - before.ours)
        share = round(max(0.0, others) / ((after.wall - before.wall) * cpus), 3)
    return {"cpus": cpus, "other_cpu_share": share, "load_avg_1min": round(os.getloadavg()[0], 2)}


def time_pages(
    client: httpx.Client, cases: dict[str, tuple[str, dict[str, Any]]], repeat: int
) -> dict[str, dict[str, Any]]:
    """Each case ``repeat`` times after a warm-up, interleaved so drift hits all alike."""
    for _ in range(WARMUP):
        for path, params in cases.values():
            timed_get(client, path, params)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        for name, (path, params) in cases.items():
            elapsed, response = timed_get(client, path, params)
            samples[name].append(elapsed)
            sizes[name] = len(response.content)
    return {
        name: {
            "p50_ms": round(percentile(values, 50), 2),
            "p90_ms": round(percentile(values, 90), 2),
            "min_ms": round(min(values), 2),
            "bytes": sizes[name],
            "n": len(values),
        }
        for name, values in samples.items()
    }


def unwrap_count(client: httpx.Client) -> int:
    text = client.get("/metrics").text
    prefix = 'groupie_keyring_calls_total{operation="unwrap"} '
    return sum(
        int(float(line[len(prefix) :])) for line in text.splitlines() if line.startswith(prefix)
    )


def probe_unwraps(client: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    """Unwraps of the page's first request on a fresh server (cold), then of the same again."""
    before = unwrap_count(client)
    cold_ms, response = timed_get(client, MESSAGES_PATH, params)
    middle = unwrap_count(client)
    warm_ms, _ = timed_get(client, MESSAGES_PATH, params)
    after = unwrap_count(client)
    results = response.json()["results"]
    return {
        "distinct_chats": len({item["chat_id"] for item in results}),
        "rows": len(results),
        "cold_unwraps": middle - before,
        "warm_unwraps": after - middle,
        "cold_ms": round(cold_ms, 1),
        "warm_ms": round(warm_ms, 1),
        "decrypt_errors": sum(item["error"] is not None for item in results),
    }


def measure_pages(
    env: dict[str, str], tmp: Path, key: str, params: Params, args: argparse.Namespace
) -> tuple[Walk, dict[str, dict[str, Any]], int]:
    """The walk, then the first and the deep page timed, on a server started as `make run`."""
    expected = expected_sample(params)
    with running_server(env, tmp, "pages") as server, api_client(server, key) as client:
        print(f"gunicorn: {server.workers} worker(s) (gunicorn.conf.py defaults); walking …")
        walked = walk(client, Walk(args.depth, expected))
        print(f"walk: {walked.rows} rows in {walked.pages} pages, {walked.seconds} s; timing …")
        if walked.deep_cursor is None:
            common.print_log_tail(server.log, 3000)
            return walked, {}, server.workers
        cases: dict[str, tuple[str, dict[str, Any]]] = {
            "first": (MESSAGES_PATH, {"page_size": PAGE_SIZE}),
            "deep": (MESSAGES_PATH, {"page_size": PAGE_SIZE, "cursor": walked.deep_cursor}),
            "healthz": ("/healthz", {}),  # the floor: loopback HTTP, gunicorn, middleware
        }
        before = cpu_snapshot(server.pid)
        timings = time_pages(client, cases, args.repeat)
        timings["machine"] = machine_facts(before, cpu_snapshot(server.pid))
    return walked, timings, server.workers


def measure_unwraps(
    env: dict[str, str], tmp: Path, key: str, deep_cursor: str
) -> dict[str, dict[str, Any]]:
    """Each page on its own freshly started one-worker server: its chat-key cache is empty."""
    pages: dict[str, dict[str, Any]] = {
        "first": {"page_size": PAGE_SIZE},
        "deep": {"page_size": PAGE_SIZE, "cursor": deep_cursor},
    }
    probes = {}
    for name, params in pages.items():
        server_name, extra = f"unwraps-{name}", {"WEB_CONCURRENCY": "1"}
        with (
            running_server(env, tmp, server_name, **extra) as server,
            api_client(server, key) as client,
        ):
            probes[name] = {**probe_unwraps(client, params), "workers": server.workers}
    return probes


# -- report --------------------------------------------------------------------------------------


def verdicts(timings: dict[str, Any], unwraps: dict[str, Any]) -> list[dict[str, Any]]:
    first, deep = timings["first"], timings["deep"]
    ratio = deep["p50_ms"] / first["p50_ms"]
    first_target = f"<= {FIRST_P50_TARGET_MS:.0f} ms"
    rows = [
        (
            "first page p50",
            f"{first['p50_ms']:.1f} ms",
            first_target,
            first["p50_ms"] <= FIRST_P50_TARGET_MS,
        ),
        ("deep/first p50 ratio", f"{ratio:.2f}", f"<= {RATIO_TARGET}", ratio <= RATIO_TARGET),
    ]
    for name, probe in unwraps.items():
        chats, cold, warm = probe["distinct_chats"], probe["cold_unwraps"], probe["warm_unwraps"]
        value = f"{cold} ({chats} chats on page)"
        rows.append((f"{name} page unwraps, cold", value, f"<= {chats}", cold <= chats))
        rows.append((f"{name} page unwraps, warm", str(warm), "0", warm == 0))
    return [{"figure": f, "value": v, "target": t, "met": m} for f, v, t, m in rows]


def functional_failures(walked: Walk, loaded: int, unwraps: dict[str, Any]) -> list[str]:
    failures = []
    if walked.bad_statuses:
        failures.append(f"walk stopped on HTTP {walked.bad_statuses}")
    if walked.rows != loaded:
        failures.append(f"walk returned {walked.rows} rows of {loaded} loaded")
    if walked.duplicates or walked.out_of_order:
        failures.append(f"{walked.duplicates} duplicates, {walked.out_of_order} out of order")
    if walked.decrypt_errors or any(p["decrypt_errors"] for p in unwraps.values()):
        failures.append(f"{walked.decrypt_errors} messages failed to decrypt in the walk")
    if walked.sample_mismatches or walked.sample_checked != len(walked.expected):
        failures.append(
            f"sample: {walked.sample_checked}/{len(walked.expected)} seen, "
            f"{len(walked.sample_mismatches)} not as sealed ({walked.sample_mismatches[:5]})"
        )
    if walked.deep_cursor is None:
        failures.append(f"no next link at depth {walked.depth}")
    return failures


def print_report(summary: dict[str, Any]) -> None:
    timings = summary["timings"]
    print(f"\n{'request (page_size 100)':32}{'p50 ms':>9}{'p90 ms':>9}{'min ms':>9}{'bytes':>9}")
    labels = {
        "first": "first page",
        "deep": f"deep page (after row {summary['depth']:,})",
        "healthz": "/healthz (floor)",
    }
    for name, label in labels.items():
        t = timings[name]
        print(f"{label:32}{t['p50_ms']:>9.1f}{t['p90_ms']:>9.1f}{t['min_ms']:>9.1f}{t['bytes']:>9}")
    print("times: wall time per request over keep-alive loopback HTTP (httpx), body included")
    machine = timings["machine"]
    others = machine["other_cpu_share"]
    print(
        f"machine: {machine['cpus']} CPUs; while timing, other processes (PostgreSQL too) used "
        + (f"{others:.0%} of them" if others is not None else "an unknown share")
        + (" — the times are inflated and noisy" if others and others > 0.1 else "")
    )
    print(f"\n{'figure':30}{'value':>26}{'target':>12}  verdict")
    for row in summary["verdicts"]:
        verdict = "met" if row["met"] else "MISSED"
        print(f"{row['figure']:30}{row['value']:>26}{row['target']:>12}  {verdict}")
    probes = summary["unwraps"]
    print(
        "unwraps: one-worker servers (WEB_CONCURRENCY=1), freshly started per page; cold request "
        + ", ".join(f"{n} {p['cold_ms']:.0f} ms" for n, p in probes.items())
    )
    walked = summary["walk"]
    print(
        f"walk: {walked['rows']} rows, {walked['pages']} pages of {WALK_PAGE_SIZE}, "
        f"{walked['duplicates']} duplicates, {walked['out_of_order']} out of order, "
        f"{walked['decrypt_errors']} decrypt errors, sample {walked['sample_checked']} checked / "
        f"{len(walked['sample_mismatches'])} mismatched"
    )
    failures = summary["functional_failures"]
    print(f"functional checks: {'OK' if not failures else 'FAILED: ' + '; '.join(failures)}")
    print(f"database: {summary['database']}, archive {summary['archive']}")
    print(f"command: {summary['command']}")


def code_version() -> dict[str, Any]:
    """The commit measured and how many files differed from it: results are per code state."""
    git = ["git", "-C", str(ROOT)]
    try:
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    except OSError:
        return {}
    return {"commit": commit.stdout.strip(), "changed_files": len(status.stdout.splitlines())}


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    params = Params(args.messages, args.chats, args.seed)
    env = common.bench_env(tmp, args.database_url, GROUPIE_API_RATE="1000000/min")
    archive = prepare_archive(env, tmp, params, args)
    created = common.manage(env, "create_api_key", "--name", "bench", capture=True)
    key = created.strip().splitlines()[-1]
    walked, timings, workers = measure_pages(env, tmp, key, params, args)
    if walked.deep_cursor is None:
        raise RuntimeError(f"the walk ended after {walked.rows} rows, before {args.depth}")
    unwraps = measure_unwraps(env, tmp, key, walked.deep_cursor)
    walk_facts = {k: v for k, v in asdict(walked).items() if not k.startswith("_")}
    del walk_facts["expected"], walk_facts["deep_cursor"]
    return {
        "database": common.database_kind(args.database_url),
        "code": code_version(),
        "params": asdict(params),
        "depth": args.depth,
        "page_size": PAGE_SIZE,
        "archive": archive,
        "server": {"pages_workers": workers, "unwrap_workers": 1},
        "timings": timings,
        "deep_first_ratio": round(timings["deep"]["p50_ms"] / timings["first"]["p50_ms"], 3),
        "unwraps": unwraps,
        "verdicts": verdicts(timings, unwraps),
        "walk": walk_facts,
        "functional_failures": functional_failures(walked, archive["messages"], unwraps),
    }


def main() -> int:
    args = parse_args()
    command = common.command_line()
    with tempfile.TemporaryDirectory(prefix="groupie-bench-api-") as name:
        summary = {"command": command, **run(args, Path(name))}
    print_report(summary)
    print(f"results: {common.write_results(summary, 'api-pages')}")
    return 1 if summary["functional_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
