"""Firestore: the search tokens as an array on the head, or as a collection of token documents?

On the Firestore emulator (tests/firestore), writes ``--messages`` real-shaped messages of one
chat both ways and searches them both ways:

* **array**: what FirestoreStore does. Each head carries ``search_tokens`` and is created in
  the same one commit as its revision. A search is one query:
  ``chat_id ==``, ``search_tokens array-contains-any``, ordered by ``sort_key``, limit 51;
* **collection**: one ``search_tokens/{chat}:{token}:{message}`` document per term and
  message (chat_id, token, message_id, sort_key), written in the message's commit. A search
  queries ``chat_id ==, token ==`` ordered by ``sort_key``, limit 51, then reads those heads.

It reports document writes and reads per message and per search (what Firestore bills), index
entries per message, and the emulator's wall times. The emulator is one local process, so its
times say little about Firestore's and are printed only as a sanity check; the operation
counts are the same against Firestore.

    .venv/bin/python bench/firestore_tokens.py [--messages 2000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHAT = -1001000000000777
WORDS = tuple(
    " ".join(
        (
            "release checklist build ready review deploy staging rollback invoice storage",
            "room key meeting moved shift sunday fix green again link docs runbook danke",
            "passt проверьте пятницы 東京 京チ チー ーム 確認 ελέγχθηκε χθες βράδυ",
        )
    ).split()
)
RARE = "zebra"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    from crypto import blindindex
    from tests.peers.firestore import start_emulator
    from tests.peers.node import stop_peer

    process, host = start_emulator()
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        rng = random.Random(7)
        key = blindindex.index_key(os.urandom(32))
        messages = []
        for n in range(1, args.messages + 1):
            words = rng.sample(WORDS, rng.randint(5, 14)) + ([RARE] if n % 500 == 0 else [])
            tokens = sorted(blindindex.tokens(key, blindindex.terms(" ".join(words))))
            messages.append((n, f"{1_780_000_000 + n:012d}:{n:010d}", tokens))
        common, rare = blindindex.token(key, "release"), blindindex.token(key, RARE)
        results = {}
        for layout in ("array", "collection"):
            client = firestore.Client(project=f"bench-{uuid.uuid4().hex[:10]}")
            results[layout] = measure(client, firestore, FieldFilter, layout, messages, args)
            results[layout]["search_common_ms"], results[layout]["results_common"] = search(
                client, firestore, FieldFilter, layout, common, args.repeat
            )
            results[layout]["search_rare_ms"], results[layout]["results_rare"] = search(
                client, firestore, FieldFilter, layout, rare, args.repeat
            )
    finally:
        stop_peer(process)
    tokens_per_message = statistics.mean(len(t) for _, _, t in messages)
    print(
        json.dumps(
            {
                "messages": args.messages,
                "tokens_per_message": round(tokens_per_message, 1),
                **results,
            },
            indent=2,
        )
    )
    return 0


def measure(
    client: Any, firestore: Any, field_filter: Any, layout: str, messages: list[Any], args: Any
) -> dict[str, Any]:
    heads = client.collection("messages")
    token_docs = client.collection("search_tokens")
    writes = 0
    started = time.perf_counter()
    for message_id, sort_key, tokens in messages:
        batch = client.batch()
        head = {
            "chat_id": CHAT,
            "message_id": message_id,
            "sort_key": sort_key,
            "envelope": b"x" * 600,
        }
        if layout == "array":
            head["search_tokens"] = tokens
        batch.create(heads.document(f"{CHAT}:{message_id}"), head)
        writes += 1
        if layout == "collection":
            for token in tokens:
                ref = token_docs.document(f"{CHAT}:{token.hex()}:{message_id}")
                batch.create(
                    ref,
                    {
                        "chat_id": CHAT,
                        "token": token,
                        "message_id": message_id,
                        "sort_key": sort_key,
                    },
                )
                writes += 1
        batch.commit()
    seconds = time.perf_counter() - started
    count = len(messages)
    tokens = sum(len(t) for _, _, t in messages)
    return {
        "document_writes_per_message": round(writes / count, 1),
        # Estimated from Firestore's indexing rules: every field of a document gets two
        # single-field entries (ascending, descending), an array one per element; each
        # composite index one entry per document (per element, for an array in it). Heads
        # have 4 plain fields; a token document has 4 and its (chat_id, token, sort_key)
        # composite in both directions; the array layout's composite is in both directions.
        "index_entries_per_message": round(
            8 + 3 * tokens / count if layout == "array" else 8 + 10 * tokens / count, 1
        ),
        "emulator_write_ms_per_message": round(seconds * 1000 / count, 2),
    }


def search(
    client: Any, firestore: Any, field_filter: Any, layout: str, token: bytes, repeat: int
) -> tuple[float, int]:
    heads = client.collection("messages")
    samples, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        if layout == "array":
            q = heads.where(filter=field_filter("chat_id", "==", CHAT))
            q = q.where(filter=field_filter("search_tokens", "array_contains_any", [token]))
            docs = list(
                q.order_by("sort_key", direction=firestore.Query.DESCENDING).limit(51).stream()
            )
        else:
            q = client.collection("search_tokens").where(filter=field_filter("chat_id", "==", CHAT))
            q = q.where(filter=field_filter("token", "==", token))
            postings = list(
                q.order_by("sort_key", direction=firestore.Query.DESCENDING).limit(51).stream()
            )
            refs = [heads.document(f"{CHAT}:{p.get('message_id')}") for p in postings]
            docs = list(client.get_all(refs)) if refs else []
        samples.append((time.perf_counter() - started) * 1000)
        found = len(docs)
    return round(statistics.median(samples), 2), found


if __name__ == "__main__":
    sys.exit(main())
