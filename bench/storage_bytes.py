"""Storage bench: the bytes the message tables take per message, on SQLite or PostgreSQL.

Archives one corpus through the real webhook (Django's test client, the bench's settings):
``--messages`` distinct updates of bench/ingest.py (the bench-peer corpus: 1,500) and then an
edit of every tenth of them (150), then measures the message tables (heads and revisions, with
their indexes) and, apart, the tables beside them (chats, search tokens, pending log leaves):

- SQLite: ``SUM(pgsize)`` from the ``dbstat`` virtual table, per table and index;
- PostgreSQL: ``pg_total_relation_size`` (table, TOAST and indexes), after ``VACUUM ANALYZE``;
- Firestore (``--firestore``, on the emulator the tests use): the documents of each collection
  (writes and stored bytes are billed per document).

Figures are reported and written under bench/results/, not asserted.

    .venv/bin/python bench/storage_bytes.py [--messages 1500] [--edit-every 10]
        [--database-url postgres://…/groupie_bench]   # emptied first: its name must hold 'bench'
        [--firestore]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    from bench import common, ingest
except ImportError:  # run as a script (python bench/storage_bytes.py)
    import common  # type: ignore[no-redef]
    import ingest  # type: ignore[no-redef]

MESSAGE_TABLES = ("archive_message", "archive_messagerevision")
OTHER_TABLES = ("archive_chat", "archive_searchtoken", "archive_pendingleaf")
EDIT_DATE = 1_790_000_000


def helper_main() -> None:
    """In a subprocess with Django set up: archive the corpus, then measure."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    payload = json.loads(sys.stdin.read())
    messages, edit_every = int(payload["messages"]), int(payload["edit_every"])
    client = Client(HTTP_HOST="localhost")
    headers = {"X-Telegram-Bot-Api-Secret-Token": payload["secret"]}

    def post(update: dict[str, Any]) -> None:
        body = json.dumps(update)
        response = client.post(
            "/telegram/webhook/", body, content_type="application/json", headers=headers
        )
        if response.status_code != 200:
            raise RuntimeError(f"update {update['update_id']}: {response.status_code}")

    for seq in range(messages):
        post({"update_id": seq + 1, "message": ingest.expected_message(seq)})
    edits = 0
    for seq in range(0, messages, edit_every):
        message = ingest.expected_message(seq)
        message["edit_date"] = EDIT_DATE
        message.pop("caption", None)
        message["text"] = f"edited {seq}"
        post({"update_id": messages + seq + 1, "edited_message": message})
        edits += 1
    if payload.get("firestore"):
        print(json.dumps({"messages": messages, "edits": edits, **_documents()}))
        return
    print(json.dumps({"messages": messages, "edits": edits, **_sizes(connection)}))


def _documents() -> dict[str, Any]:
    from messages.stores import get_store

    store: Any = get_store()
    counts = {c.id: len(list(c.select([]).stream())) for c in store.collections}
    return {"documents": counts}


def _sizes(connection: Any) -> dict[str, Any]:
    tables = (*MESSAGE_TABLES, *OTHER_TABLES)
    with connection.cursor() as cursor:
        rows = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - our own names
            rows[table] = cursor.fetchone()[0]
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            sizes = {}
            for table in tables:
                cursor.execute("SELECT pg_total_relation_size(%s)", [table])
                sizes[table] = int(cursor.fetchone()[0])
            method = "pg_total_relation_size (after VACUUM ANALYZE)"
        else:
            # Each table with its indexes: dbstat names the b-trees, sqlite_master their table.
            cursor.execute(
                "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d "
                "JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name"
            )
            found = dict(cursor.fetchall())
            sizes = {table: int(found.get(table, 0)) for table in tables}
            method = "dbstat SUM(pgsize), table and its indexes"
    return {"rows": rows, "bytes": sizes, "method": method}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1500, help="new messages archived")
    parser.add_argument("--edit-every", type=int, default=10, help="edit every Nth message")
    common.add_database_url(parser)
    parser.add_argument(
        "--firestore", action="store_true", help="count Firestore documents (on the emulator)"
    )
    args = parser.parse_args()
    common.check_database_url(parser, args)
    return args


def main() -> int:
    args = parse_args()
    command = common.command_line()
    with tempfile.TemporaryDirectory(prefix="groupie-storage-bench-") as name:
        env = common.bench_env(Path(name), args.database_url, GROUPIE_FETCH_MEDIA="0")
        ingest.prepare_database(env, flush=bool(args.database_url), search_index=False)
        payload = {
            "messages": args.messages,
            "edit_every": args.edit_every,
            "secret": env["WEBHOOK_SECRET"],
            "firestore": args.firestore,
        }
        if args.firestore:
            return _firestore(env, payload, command)
        found = common.django_helper("bench.storage_bytes", env, payload)
    message_bytes = sum(found["bytes"][t] for t in MESSAGE_TABLES)
    summary = {
        "command": command,
        "database": common.database_kind(args.database_url),
        **found,
        "message_tables_bytes": message_bytes,
        "bytes_per_message": round(message_bytes / found["messages"], 1),
    }
    print(f"{summary['database']}: {found['messages']} messages, {found['edits']} edits")
    for table, size in found["bytes"].items():
        print(f"  {table:28} {found['rows'][table]:>7} rows {size:>10} bytes")
    print(
        f"message tables: {message_bytes} bytes, "
        f"{summary['bytes_per_message']} bytes per message ({found['method']})"
    )
    print(f"command: {command}")
    print(f"results: {common.write_results(summary, 'storage')}")
    return 0


def _firestore(env: dict[str, str], payload: dict[str, Any], command: str) -> int:
    if str(common.ROOT) not in sys.path:
        sys.path.insert(0, str(common.ROOT))
    from tests.peers.firestore import start_emulator
    from tests.peers.node import stop_peer

    process, host = start_emulator()
    try:
        env = {
            **env,
            "GROUPIE_STORE": "firestore",
            "GCP_PROJECT_ID": "storage-bench",
            "FIRESTORE_EMULATOR_HOST": host,
        }
        found = common.django_helper("bench.storage_bytes", env, payload)
    finally:
        stop_peer(process)
    documents = found["documents"]
    records = documents.get("messages", 0) + documents.get("revisions", 0)
    summary = {
        "command": command,
        "database": "firestore emulator",
        **found,
        "message_documents": records,
        "per_message": round(records / found["messages"], 3),
    }
    print(f"firestore: {found['messages']} messages, {found['edits']} edits")
    for collection, count in documents.items():
        print(f"  {collection:28} {count:>7} documents")
    print(
        f"message documents (messages + revisions): {records}, {summary['per_message']} per message"
    )
    print(f"command: {command}")
    print(f"results: {common.write_results(summary, 'storage-firestore')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
