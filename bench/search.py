"""Search benchmark: the blind index against today's decrypt-and-scan, on the API bench's archive.

Loads (or takes from the cache) bench/api_pages.py's archive: 200,000 real-shaped messages in
120 chats, sealed as archive() seals them. Then:

* builds every chat's index with ``manage.py build_search_index --all`` (timed), and reports
  the index's size: entries and bytes per message (SQLite: the file's growth after a checkpoint;
  PostgreSQL: the table's and its indexes' size, after an ANALYZE as autovacuum would run);
* in a Django process on the same database, times the first page (50 results) of a one-term,
  a three-term and a no-match search, in one chat (the busiest) and across all chats, with the
  index (``IndexedSearch``: the store's candidates, each confirmed by decrypting it, then the
  page opened as the API opens it) and, for the one chat, with today's bounded decrypt-and-scan
  (``messages.search.scan``, 500 messages a request, repeated until the page is full or the
  chat ends, as someone clicking "continue" would). Each case runs ``--repeat`` times after a
  warm-up, interleaved; p50 and p90 are reported, and scan p50 / index p50;
* times the same searches over HTTP, ``GET /api/v1/messages/?search=…`` on a server started as
  ``make run`` does (what a program sees);
* with ``--ingest``, runs bench/ingest.py with and without ``--search-index`` and reports
  groupie/baseline throughput of each: the cost of indexing on the webhook's path.

Targets are reported, not asserted: the exit status is non-zero only when a search's results
differ between the index and the scan (a functional failure).

    .venv/bin/python bench/search.py [--messages 200000] [--chats 120] [--repeat 30]
        [--database-url postgres://.../groupie_bench_search] [--ingest]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from bench import api_pages, common
except ImportError:  # run as a script: bench/ itself is on sys.path
    import api_pages  # type: ignore[no-redef]
    import common  # type: ignore[no-redef]

P50_TARGET_MS = 50.0
PAGE = 50
WARMUP = 3
SEARCHES = {
    "one term": "release",
    "three terms": "release checklist ready",
    "no match": "zebra",
}


# -- in the Django process -----------------------------------------------------------------------


def helper_main() -> None:
    import django

    django.setup()
    payload = json.loads(sys.stdin.read())
    action = sys.argv[-1]
    result = size() if action == "size" else timings(payload["repeat"])
    print(json.dumps(result))


def size() -> dict[str, Any]:
    from django.db import connection

    from messages.models import Message, SearchToken

    messages = Message.objects.count()
    entries = SearchToken.objects.count()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            table_bytes = None
        else:
            # Fresh statistics, as autovacuum takes soon after a build adds millions of rows
            # (api_pages does the same after loading the archive).
            cursor.execute("ANALYZE")
            cursor.execute("SELECT pg_total_relation_size(%s)", [SearchToken._meta.db_table])
            table_bytes = cursor.fetchone()[0]
    return {"messages": messages, "entries": entries, "table_bytes": table_bytes}


def busiest_chat() -> int:
    from django.db.models import Count

    from messages.models import Message

    row = Message.objects.values("chat_id").annotate(n=Count("*")).order_by("-n").first()
    assert row is not None  # noqa: S101 - the archive was loaded
    return int(row["chat_id"])


def timings(repeat: int) -> dict[str, Any]:
    from crypto.blindindex import Search
    from messages.reading.opening import open_messages
    from messages.search import index, scan
    from messages.search.query import IndexedSearch, confirmed, term_tokens
    from messages.stores import get_store
    from messages.stores.records import MessageQuery

    store = get_store()
    chat = busiest_chat()
    every = sorted(index.all_ready())

    def indexed(text: str, chats: list[int]) -> list[str]:
        search = Search.parse(text)
        query = MessageQuery(chats=tuple(chats), limit=PAGE, search=term_tokens(search, chats))
        page = IndexedSearch(store, search).query(query)
        opened = open_messages(page.items)
        return [f"{m.stored.chat_id}:{m.stored.message_id}" for m in opened]

    def scanned(text: str) -> list[str]:
        """Today's scan (messages.search.scan's loop: a batch of heads, opened, matched), with
        the index's matcher so both answer the same question."""
        search = Search.parse(text)
        found: list[str] = []
        after = None
        while len(found) < PAGE:
            query = MessageQuery(chats=(chat,), limit=scan.BATCH, after=after)
            page = store.query(query)
            for item in open_messages(page.items):
                if confirmed(item, search) and len(found) < PAGE:
                    found.append(f"{item.stored.chat_id}:{item.stored.message_id}")
            if not page.has_more:
                break
            after = page.items[-1].sort_key
        return found

    cases: dict[str, Any] = {}
    for name, text in SEARCHES.items():
        cases[f"index, one chat, {name}"] = lambda t=text: indexed(t, [chat])
        cases[f"index, all chats, {name}"] = lambda t=text: indexed(t, every)
        cases[f"scan, one chat, {name}"] = lambda t=text: scanned(t)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    answers: dict[str, list[str]] = {}
    for _ in range(WARMUP):
        for name, case in cases.items():
            answers[name] = case()
    for _ in range(repeat):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            samples[name].append((time.perf_counter() - started) * 1000)
    mismatches = [
        name
        for name in SEARCHES
        if answers[f"index, one chat, {name}"] != answers[f"scan, one chat, {name}"]
    ]
    return {
        "chat": chat,
        "chat_messages": store.get_chat(chat).message_count,  # type: ignore[union-attr]
        "cases": {
            name: {
                "p50_ms": round(api_pages.percentile(values, 50), 2),
                "p90_ms": round(api_pages.percentile(values, 90), 2),
                "results": len(answers[name]),
                "n": len(values),
            }
            for name, values in samples.items()
        },
        "mismatches": mismatches,
    }


# -- the run -------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages to load")
    parser.add_argument("--chats", type=int, default=120, help="chats they are spread over")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs of each search")
    parser.add_argument(
        "--ingest", action="store_true", help="also bench-ingest with indexing on and off"
    )
    common.add_database_url(parser)
    parser.add_argument("--no-cache", action="store_true", help="rebuild the SQLite archive")
    args = parser.parse_args()
    common.check_database_url(parser, args)
    return args


def database_bytes(tmp: Path, args: argparse.Namespace) -> int | None:
    path = tmp / "groupie.db"
    return None if args.database_url else path.stat().st_size


def http_timings(env: dict[str, str], tmp: Path, chat: int, repeat: int) -> dict[str, Any]:
    key = (
        common.manage(env, "create_api_key", "--name", "bench-search", capture=True)
        .strip()
        .split()[-1]
    )
    cases = {}
    for name, text in SEARCHES.items():
        cases[f"api, one chat, {name}"] = (
            api_pages.MESSAGES_PATH,
            {"search": text, "chat": chat, "page_size": PAGE},
        )
        cases[f"api, all chats, {name}"] = (
            api_pages.MESSAGES_PATH,
            {"search": text, "page_size": PAGE},
        )
    with (
        api_pages.running_server(env, tmp, "search") as server,
        api_pages.api_client(server, key) as client,
    ):
        return api_pages.time_pages(client, cases, repeat)


def ingest_cost(args: argparse.Namespace) -> dict[str, Any]:
    """bench/ingest.py without and with every chat indexed: each run's groupie/baseline."""
    ratios = {}
    for label, extra in (("index off", []), ("index on", ["--search-index"])):
        command = [str(common.BIN / "python"), "bench/ingest.py", "--requests", "10000", *extra]
        if args.database_url:
            command += ["--database-url", args.database_url]
        done = subprocess.run(command, cwd=common.ROOT, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if "throughput" in line]
        print(f"ingest, {label}: {lines[0] if lines else done.stdout[-500:]}")
        results = [line for line in done.stdout.splitlines() if line.startswith("results: ")]
        if done.returncode != 0 or not results:
            raise RuntimeError(f"bench/ingest.py {' '.join(extra)} failed:\n{done.stderr[-2000:]}")
        ratios[label] = json.loads(Path(results[-1].removeprefix("results: ")).read_text())
    off, on = ratios["index off"], ratios["index on"]
    return {
        "throughput_ratio_off": off["throughput_ratio"],
        "throughput_ratio_on": on["throughput_ratio"],
        "on_vs_off": round(on["throughput_ratio"] / off["throughput_ratio"], 3),
        "updates_per_s_off": off["groupie"]["updates_per_s"],
        "updates_per_s_on": on["groupie"]["updates_per_s"],
    }


def main() -> int:
    args = parse_args()
    params = api_pages.Params(args.messages, args.chats, 1)
    with tempfile.TemporaryDirectory(prefix="groupie-bench-search-") as name:
        tmp = Path(name)
        env = common.bench_env(tmp, args.database_url, GROUPIE_SEARCH_INDEX_CACHE_SECONDS="0")
        loaded = api_pages.prepare_archive(env, tmp, params, args)
        before = database_bytes(tmp, args)
        print("index: building every chat's (build_search_index --all) …")
        started = time.perf_counter()
        common.manage(env, "build_search_index", "--all", "--no-progress", capture=True)
        build_seconds = time.perf_counter() - started
        sized = common.django_helper("bench.search", env, {}, "size")
        after = database_bytes(tmp, args)
        grown = sized["table_bytes"] if args.database_url else (after or 0) - (before or 0)
        print(f"index: built in {build_seconds:.1f} s; timing searches in-process …")
        measured = common.django_helper("bench.search", env, {"repeat": args.repeat}, "time")
        print("timing searches over HTTP …")
        http = http_timings(env, tmp, measured["chat"], args.repeat)
    summary: dict[str, Any] = {
        "command": common.command_line(),
        "database": common.database_kind(args.database_url),
        "archive": {"messages": loaded["messages"], "chats": args.chats},
        "build": {
            "seconds": round(build_seconds, 1),
            "messages_per_s": round(sized["messages"] / build_seconds),
        },
        "size": {
            "entries": sized["entries"],
            "entries_per_message": round(sized["entries"] / sized["messages"], 1),
            "bytes_per_message": round(grown / sized["messages"], 1),
        },
        **measured,
        "http": http,
    }
    if args.ingest:
        summary["ingest"] = ingest_cost(args)
    report(summary)
    print(f"results: {common.write_results(summary, 'search')}")
    return 1 if measured["mismatches"] else 0


def report(summary: dict[str, Any]) -> None:
    cases = summary["cases"]
    print(
        f"\nbusiest chat {summary['chat']}: {summary['chat_messages']:,} messages; "
        f"archive {summary['archive']['messages']:,} messages, "
        f"{summary['archive']['chats']} chats"
    )
    print(f"{'':40}{'p50 ms':>10}{'p90 ms':>10}{'results':>9}")
    for name, case in {**cases, **summary["http"]}.items():
        if name == "machine":
            continue
        results = case.get("results", "")
        print(f"{name:40}{case['p50_ms']:>10.2f}{case['p90_ms']:>10.2f}{results:>9}")
    verdict = {True: "met", False: "MISSED"}
    for name in SEARCHES:
        index = cases[f"index, one chat, {name}"]["p50_ms"]
        scan = cases[f"scan, one chat, {name}"]["p50_ms"]
        print(f"scan/index p50, one chat, {name}: {scan / index:.1f}x")
    worst = max(case["p50_ms"] for name, case in summary["http"].items() if name != "machine")
    print(
        f"slowest API search p50 {worst:.1f} ms (target < {P50_TARGET_MS:.0f}): "
        f"{verdict[worst < P50_TARGET_MS]}"
    )
    size = summary["size"]
    print(
        f"index: {size['entries']:,} entries, {size['entries_per_message']} per message, "
        f"{size['bytes_per_message']} bytes per message; built in {summary['build']['seconds']} s "
        f"({summary['build']['messages_per_s']:,} messages/s)"
    )
    if "ingest" in summary:
        ingest = summary["ingest"]
        print(
            f"ingest groupie/baseline: index off {ingest['throughput_ratio_off']}, on "
            f"{ingest['throughput_ratio_on']} (on/off {ingest['on_vs_off']})"
        )
    if summary["mismatches"]:
        print(f"MISMATCH between the index and the scan: {', '.join(summary['mismatches'])}")
    print(f"command: {summary['command']}")


if __name__ == "__main__":
    sys.exit(main())
