"""Ingest benchmark: groupie's webhook against a minimal durable hook, under the same load.

Starts gunicorn as ``make run`` does (debug off) on a throwaway SQLite database and keyring, or
on an emptied PostgreSQL database (``--database-url``), and drives both endpoints with wrk: the
baseline (bench/baseline.py: secret check, JSON parse, AES-GCM, one INSERT) and
/telegram/webhook/. Every request carries a distinct, real-shaped Telegram update. Afterwards it
checks through Django that each acknowledged update was stored exactly once and that a sample
decrypts back to what was sent. Performance targets are reported, not asserted; the exit status
is non-zero only when the exactly-once check fails.

With ``--search-index`` every chat's search index is on (built, empty) before the load, so
each message is also tokenized and its tokens stored: compare its groupie/baseline ratio with a
run without it for the cost of indexing (``make bench-search`` runs both).

    .venv/bin/python bench/ingest.py [--requests 20000] [--rounds 4]
        [--database-url postgres://...] [--search-index]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import runpy
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

try:
    from bench import common
except ImportError:  # run as a script (python bench/ingest.py): bench/ itself is on sys.path
    import common  # type: ignore[no-redef]

SIDES = {"baseline": "/bench/hook/", "groupie": "/telegram/webhook/"}
THROUGHPUT_TARGET = 0.8  # groupie/baseline updates per second, at least
P99_TARGET = 1.5  # groupie/baseline p99 latency, at most
WARMUP_SECONDS = 4
PROBE_SECONDS = 6  # sizes the measured run
MIN_SECONDS = 5
MAX_ATTEMPTS = 3
SAMPLE_SIZE = 200
RESULT_MARKER = "BENCH_RESULT "

# The generated updates. seq = run base + thread * STRIDE + per-thread counter names one update;
# everything in it derives from seq, here and in the Lua script alike.
RUN_SPAN = 10**10
STRIDE = 10**9
CHATS = 50
CHAT_BASE = 1001234567890000  # chat ids -1001234567890000 .. -1001234567890049
USERS = 97
USER_BASE = 7100000000
DATE_BASE = 1773480000
PHOTO_EVERY = 10
FIRST_NAMES = ("Marguerite", "Oskar", "Анастасия", "Yūki", "Δημήτρης", "Fatima", "Liang", "Søren")
LAST_NAMES = ("Quillfeather", "Lindqvist", "Соколова", "Tanaka", "Παπαδόπουλος", "Haddad", "Wei")
TEXT = (
    "Update %s in chat %s: the release checklist for build %s is ready — проверьте до "
    "пятницы, пожалуйста. 東京チームも確認済みです. Ελέγχθηκε χθες. Thanks!"
)
TITLE = "Bench chat %s — Клуб «Релиз»"

LUA = Template(r"""-- Written by bench/ingest.py: one distinct Telegram update per request.
local STRIDE, CHATS, CHAT_BASE = $stride, $chats, $chat_base
local USERS, USER_BASE, DATE_BASE, PHOTO_EVERY = $users, $user_base, $date_base, $photo_every
local FIRST, LAST = $first_names, $last_names
local TEXT, TITLE = $text, $title
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = os.getenv("BENCH_WEBHOOK_SECRET")

local function n(x) return string.format("%.0f", x) end

local function content(seq, chat)
  local text = string.format(TEXT, n(seq), n(chat), n(seq % 997))
  if seq % PHOTO_EVERY == 0 then
    return string.format(
      '"photo":[{"file_id":"AgACAgIAAxkBAAIB%s","file_unique_id":"AQADs%s","file_size":1534,' ..
      '"width":90,"height":67},{"file_id":"AgACAgIAAxkBAAIC%s","file_unique_id":"AQADm%s",' ..
      '"file_size":24310,"width":320,"height":240}],"caption":"%s"',
      n(seq), n(seq), n(seq), n(seq), text)
  end
  return string.format('"text":"%s","entities":[{"offset":0,"length":6,"type":"bold"}]', text)
end

local function update(seq)
  local chat, user = seq % CHATS, seq % USERS
  return string.format(
    '{"update_id":%s,"message":{"message_id":%s,"from":{"id":%s,"is_bot":false,' ..
    '"first_name":"%s","last_name":"%s","username":"bench_user_%s","language_code":"en"},' ..
    '"chat":{"id":-%s,"title":"%s","type":"supergroup"},"date":%s,%s}}',
    n(seq), n(math.floor(seq / CHATS) + 1), n(USER_BASE + user), FIRST[user % #FIRST + 1],
    LAST[user % #LAST + 1], n(user), n(CHAT_BASE + chat), string.format(TITLE, n(chat)),
    n(DATE_BASE + seq % 86400), content(seq, chat))
end

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  base, sent, acked, codes = tonumber(args[1]), 0, 0, {}
end

function request()
  local seq = base + tid * STRIDE + sent
  sent = sent + 1
  return wrk.format(nil, nil, nil, update(seq))
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  if status >= 200 and status < 300 then acked = acked + 1 end
end

function done(summary, latency, requests)
  local ok, per_thread, merged, parts = 0, {}, {}, {}
  for i, t in ipairs(threads) do
    ok = ok + t:get("acked")
    per_thread[i] = n(t:get("sent"))
    for code, count in pairs(t:get("codes")) do merged[code] = (merged[code] or 0) + count end
  end
  for code, count in pairs(merged) do table.insert(parts, string.format('"%d":%d', code, count)) end
  local e = summary.errors
  io.write(string.format(
    '$marker{"requests":%d,"acked":%d,"sent_per_thread":[%s],"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"duration_us":%d,"p50_ms":%.3f,"p99_ms":%.3f,"mean_ms":%.3f}\n',
    summary.requests, ok, table.concat(per_thread, ","), table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
""")


@dataclass
class Run:
    """One wrk invocation against one side, on its own range of update numbers."""

    side: str
    label: str
    base: int
    seconds: int
    connections: int
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def acked(self) -> int:
        return int(self.result["acked"])

    @property
    def rate(self) -> float:
        return self.acked / (self.result["duration_us"] / 1e6)

    def facts(self) -> dict[str, Any]:
        """What the exactly-once check needs to know about this run."""
        return {
            "side": self.side,
            "label": self.label,
            "base": self.base,
            "connections": self.connections,
            "acked": self.acked,
            "sent_per_thread": self.result["sent_per_thread"],
        }


# -- the generated updates -----------------------------------------------------------------------


def expected_message(seq: int) -> dict[str, Any]:
    """The Telegram message the Lua script sends as update ``seq``."""
    chat, user = seq % CHATS, seq % USERS
    text = TEXT % (seq, chat, seq % 997)
    message: dict[str, Any] = {
        "message_id": seq // CHATS + 1,
        "from": {
            "id": USER_BASE + user,
            "is_bot": False,
            "first_name": FIRST_NAMES[user % len(FIRST_NAMES)],
            "last_name": LAST_NAMES[user % len(LAST_NAMES)],
            "username": f"bench_user_{user}",
            "language_code": "en",
        },
        "chat": {"id": -(CHAT_BASE + chat), "title": TITLE % chat, "type": "supergroup"},
        "date": DATE_BASE + seq % 86400,
    }
    if seq % PHOTO_EVERY == 0:
        message["photo"] = [
            _photo_size(f"AgACAgIAAxkBAAIB{seq}", f"AQADs{seq}", 1534, 90, 67),
            _photo_size(f"AgACAgIAAxkBAAIC{seq}", f"AQADm{seq}", 24310, 320, 240),
        ]
        message["caption"] = text
    else:
        message["text"] = text
        message["entities"] = [{"offset": 0, "length": 6, "type": "bold"}]
    return message


def _photo_size(file_id: str, unique_id: str, size: int, width: int, height: int) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "file_unique_id": unique_id,
        "file_size": size,
        "width": width,
        "height": height,
    }


def seq_of(chat_id: int, message_id: int) -> int:
    return (message_id - 1) * CHATS + (-chat_id - CHAT_BASE)


def lua_script() -> str:
    def lua_string(value: str) -> str:
        # JSON string syntax is valid Lua for these characters; they need no JSON escaping.
        assert not set(value) & {'"', "\\"}, value  # noqa: S101 - a constant's invariant
        return json.dumps(value, ensure_ascii=False)

    def lua_list(values: tuple[str, ...]) -> str:
        return "{" + ", ".join(lua_string(v) for v in values) + "}"

    return LUA.substitute(
        stride=STRIDE,
        chats=CHATS,
        chat_base=CHAT_BASE,
        users=USERS,
        user_base=USER_BASE,
        date_base=DATE_BASE,
        photo_every=PHOTO_EVERY,
        first_names=lua_list(FIRST_NAMES),
        last_names=lua_list(LAST_NAMES),
        text=lua_string(TEXT),
        title=lua_string(TITLE),
        marker=RESULT_MARKER,
    )


# -- environment, database -----------------------------------------------------------------------


def gunicorn_defaults() -> dict[str, Any]:
    """gunicorn.conf.py's settings, read without letting it create its metrics directory."""
    saved = dict(os.environ)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "unused")
    try:
        return runpy.run_path(str(common.ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def parse_args() -> argparse.Namespace:
    conf = gunicorn_defaults()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="minimum 2xx per side")
    parser.add_argument(
        "--rounds", type=int, default=4, help="measured rounds per side, alternating (1-20)"
    )
    parser.add_argument("--connections", type=int, default=40, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=conf["workers"], help="gunicorn workers")
    parser.add_argument(
        "--threads-per-worker", type=int, default=conf["threads"], help="gunicorn threads"
    )
    common.add_database_url(parser)
    parser.add_argument("--port", type=int, help="server port (default: a free one)")
    parser.add_argument(
        "--search-index", action="store_true", help="every chat's search index on (and built)"
    )
    args = parser.parse_args()
    common.check_database_url(parser, args)
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds: use 1 to 20 rounds")
    if args.threads > 9 or args.connections < args.threads:
        parser.error("use 1-9 wrk threads and at least one connection per thread")
    return args


def bench_env(tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    (tmp / "metrics").mkdir()
    env = common.bench_env(
        tmp,
        args.database_url,
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),  # multiprocess mode, as in production
        DJANGO_SETTINGS_MODULE="bench.settings",  # groupie's, with the baseline at /bench/
        WEB_CONCURRENCY=str(args.workers),
        GUNICORN_THREADS=str(args.threads_per_worker),
    )
    env["BENCH_WEBHOOK_SECRET"] = env["WEBHOOK_SECRET"]
    return env


def prepare_database(env: dict[str, str], flush: bool, search_index: bool) -> None:
    common.migrate(env, flush=flush)
    helper(env, "reset", {"search_index": search_index})
    common.manage(env, "init_keyring")


# -- load ----------------------------------------------------------------------------------------


def run_wrk(run: Run, url: str, script: Path, args: argparse.Namespace, env: dict[str, str]) -> Run:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{run.seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url + SIDES[run.side],
        "--",
        str(run.base),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    run.result = json.loads(lines[-1][len(RESULT_MARKER) :])
    run.result["command"] = shlex.join(command)
    r = run.result
    print(
        f"  {run.side:8} {run.label:8} {run.seconds:4}s  {run.acked:7} acked  "
        f"{run.rate:8.1f}/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
        f"statuses {r['statuses']}  errors {r['errors']}",
        flush=True,
    )
    return run


def measure(
    url: str, script: Path, args: argparse.Namespace, env: dict[str, str]
) -> tuple[list[Run], dict[str, list[Run]]]:
    """Warms both sides up, probes their rates, then measures them in ``--rounds`` alternating
    rounds (baseline, groupie, groupie, baseline, ...: a machine that speeds up or slows down
    during the run weighs on both sides alike) until each side has ``--requests`` 2xx in all.
    A side that falls short gets more rounds, longer, on fresh ids."""
    runs: list[Run] = []

    def start(side: str, label: str, seconds: int) -> Run:
        run = Run(side, label, (len(runs) + 1) * RUN_SPAN, seconds, args.connections)
        runs.append(run)
        return run_wrk(run, url, script, args, env)

    for side in SIDES:
        start(side, "warmup", WARMUP_SECONDS)  # connections, chat keys, caches: not measured
    rates = {side: start(side, "probe", PROBE_SECONDS).rate for side in SIDES}
    final: dict[str, list[Run]] = {side: [] for side in SIDES}

    def seconds_for(side: str, requests: float, margin: float) -> int:
        return max(MIN_SECONDS, math.ceil(requests / max(rates[side], 1) * margin))

    for round_ in range(args.rounds):
        for side in SIDES if round_ % 2 == 0 else reversed(SIDES):
            seconds = seconds_for(side, args.requests / args.rounds, 1.1)
            final[side].append(start(side, "measure", seconds))
    for attempt in range(1, MAX_ATTEMPTS):
        for side in SIDES:
            missing = args.requests - sum(r.acked for r in final[side])
            if missing > 0:
                rates[side] = rate_of(final[side])
                final[side].append(
                    start(side, "measure", seconds_for(side, missing, 1.1 + 0.2 * attempt))
                )
    return runs, final


def rate_of(rounds: list[Run]) -> float:
    """2xx per second over the rounds together."""
    return sum(r.acked for r in rounds) / (sum(r.result["duration_us"] for r in rounds) / 1e6)


# -- verification (runs in a Django subprocess) --------------------------------------------------


def helper(env: dict[str, str], action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Runs ``helper_main`` in a subprocess with Django set up on the benchmark's settings."""
    return common.django_helper("bench.ingest", env, payload, action)


def helper_main() -> None:
    import django

    django.setup()
    action = sys.argv[-1]
    payload = json.loads(sys.stdin.read())
    if action == "reset":
        from django.db import connection
        from django.utils import timezone

        from messages.models import SearchIndex

        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_baseline_hook")
        if payload["search_index"]:
            SearchIndex.objects.bulk_create(
                SearchIndex(
                    chat_id=-(CHAT_BASE + n),
                    state=SearchIndex.READY,
                    enabled_at=timezone.now(),
                    built_at=timezone.now(),
                )
                for n in range(CHATS)
            )
        print(json.dumps({}))
    else:
        runs = payload["runs"]
        groupie = [r for r in runs if r["side"] == "groupie"]
        baseline = [r for r in runs if r["side"] == "baseline"]
        print(json.dumps({"groupie": check_groupie(groupie), "baseline": check_baseline(baseline)}))


def check_runs(seqs: list[int], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each run: acked <= stored <= acked + connections, and nothing stored that was not sent."""
    per_run, unknown = [], 0
    for run in runs:
        mine = [s - run["base"] for s in seqs if 0 <= s - run["base"] < RUN_SPAN]
        sent = run["sent_per_thread"]
        unsent = sum(1 for s in mine if s // STRIDE >= len(sent) or s % STRIDE >= sent[s // STRIDE])
        unknown += unsent
        ok = run["acked"] <= len(mine) <= run["acked"] + run["connections"] and not unsent
        per_run.append(
            {"label": run["label"], "acked": run["acked"], "stored": len(mine), "ok": ok}
        )
    unknown += sum(1 for s in seqs if not any(0 <= s - r["base"] < RUN_SPAN for r in runs))
    return {
        "runs": per_run,
        "stored": len(seqs),
        "acked": sum(r["acked"] for r in runs),
        "not_sent": unknown,
        "ok": unknown == 0 and all(r["ok"] for r in per_run),
    }


def check_groupie(runs: list[dict[str, Any]]) -> dict[str, Any]:
    from django.db.models import Count

    from messages.models import Message
    from messages.stores import get_store

    keys = list(Message.objects.values_list("chat_id", "message_id"))
    report = check_runs([seq_of(c, m) for c, m in keys], runs)
    duplicates = (
        Message.objects.values("chat_id", "message_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    # Every version once: the heads' and the superseded ones' (revision rows).
    revisions = sum(get_store().count_revisions().values())
    counted = sum(chat.message_count for chat in get_store().list_chats())
    sampled, mismatched = check_sample(random.sample(keys, min(SAMPLE_SIZE, len(keys))))
    report.update(
        duplicates=duplicates,
        revisions=revisions,
        chat_message_count=counted,
        sampled=sampled,
        sample_mismatches=mismatched,
    )
    consistent = revisions == counted == len(keys)
    report["ok"] = report["ok"] and not duplicates and consistent and not mismatched
    return report


def check_sample(keys: list[tuple[int, int]]) -> tuple[int, int]:
    """Opens each sampled message; counts those not decrypting to what the script sent."""
    from crypto.envelope import message_identity
    from crypto.errors import CryptoError
    from messages.models import Message
    from messages.sealing import open_one

    mismatched = 0
    for chat_id, message_id in keys:
        row = Message.objects.get(chat_id=chat_id, message_id=message_id)
        identity = message_identity(chat_id, message_id, row.edit_date)
        try:
            stored = json.loads(open_one(identity, bytes(row.envelope)))
        except (CryptoError, ValueError):
            stored = None
        if stored != expected_message(seq_of(chat_id, message_id)):
            mismatched += 1
    return len(keys), mismatched


def check_baseline(runs: list[dict[str, Any]]) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT update_id FROM bench_baseline_hook")
        seqs = [int(row[0]) for row in cursor.fetchall()]
    report = check_runs(seqs, runs)
    report["duplicates"] = len(seqs) - len(set(seqs))
    report["ok"] = report["ok"] and not report["duplicates"]
    return report


# -- report --------------------------------------------------------------------------------------


def summarize(final: dict[str, list[Run]], checks: dict[str, Any]) -> dict[str, Any]:
    """Each side's rate over its rounds together, and the median of its rounds' latencies."""
    sides = {
        side: {
            "updates_per_s": round(rate_of(rounds), 1),
            "p50_ms": statistics.median(r.result["p50_ms"] for r in rounds),
            "p99_ms": statistics.median(r.result["p99_ms"] for r in rounds),
            "acked": sum(r.acked for r in rounds),
            "seconds": sum(r.seconds for r in rounds),
            "rounds": len(rounds),
        }
        for side, rounds in final.items()
    }
    throughput = sides["groupie"]["updates_per_s"] / sides["baseline"]["updates_per_s"]
    p99 = sides["groupie"]["p99_ms"] / sides["baseline"]["p99_ms"]
    # Round by round (the i-th of each side: measured next to each other): the spread says how
    # much of the ratio is the machine.
    by_round = [
        round(g.rate / b.rate, 3) for b, g in zip(final["baseline"], final["groupie"], strict=False)
    ]
    return {
        **sides,
        "throughput_ratio": round(throughput, 3),
        "throughput_ratio_by_round": by_round,
        "p99_ratio": round(p99, 3),
        "throughput_target_met": throughput >= THROUGHPUT_TARGET,
        "p99_target_met": p99 <= P99_TARGET,
        "exactly_once": checks,
        "exactly_once_ok": checks["groupie"]["ok"] and checks["baseline"]["ok"],
    }


def print_report(summary: dict[str, Any], command: str) -> None:
    print(f"\n{'':10}{'updates/s':>11}{'p50 ms':>10}{'p99 ms':>10}{'2xx':>9}")
    for side in SIDES:
        s = summary[side]
        print(
            f"{side:10}{s['updates_per_s']:>11.1f}{s['p50_ms']:>10.1f}"
            f"{s['p99_ms']:>10.1f}{s['acked']:>9}"
        )
    verdict = {True: "met", False: "MISSED"}
    print(
        f"groupie/baseline throughput {summary['throughput_ratio']:.2f} "
        f"(target >= {THROUGHPUT_TARGET}): {verdict[summary['throughput_target_met']]}"
    )
    by_round = ", ".join(f"{r:.2f}" for r in summary["throughput_ratio_by_round"])
    print(f"  round by round: {by_round}")
    print(
        f"groupie/baseline p99        {summary['p99_ratio']:.2f} "
        f"(target <= {P99_TARGET}): {verdict[summary['p99_target_met']]}"
    )
    g, b = summary["exactly_once"]["groupie"], summary["exactly_once"]["baseline"]
    print(
        f"exactly-once: {'OK' if summary['exactly_once_ok'] else 'FAILED'} — groupie "
        f"{g['acked']} acked, {g['stored']} stored, {g['duplicates']} duplicates, "
        f"{g['not_sent']} unknown, {g['sample_mismatches']}/{g['sampled']} sample mismatches; "
        f"baseline {b['acked']} acked, {b['stored']} stored, {b['duplicates']} duplicates"
    )
    print(f"command: {command}")


def main() -> int:
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    command = common.command_line()
    with tempfile.TemporaryDirectory(prefix="groupie-bench-") as name:
        tmp = Path(name)
        env = bench_env(tmp, args)
        prepare_database(env, flush=bool(args.database_url), search_index=args.search_index)
        script = tmp / "updates.lua"
        script.write_text(lua_script(), encoding="utf-8")
        port = args.port or common.free_port()
        print(f"gunicorn: {args.workers} workers x {args.threads_per_worker} threads, port {port}")
        with common.running_server(env, port, tmp / "gunicorn.log") as server:
            runs, final = measure(server.url, script, args, env)
        checks = helper(env, "verify", {"runs": [r.facts() for r in runs]})
    summary = summarize(final, checks)
    summary.update(
        command=command,
        database=common.database_kind(args.database_url),
        settings={k: v for k, v in vars(args).items() if k != "database_url"},
        runs=[{"side": r.side, "label": r.label, "seconds": r.seconds, **r.result} for r in runs],
    )
    print_report(summary, command)
    print(f"results: {common.write_results(summary, 'ingest')}")
    return 0 if summary["exactly_once_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
