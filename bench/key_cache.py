"""How many keyring unwraps the chat-key cache saves, by cache size and number of active chats.

Replays a stream of message reads and writes over N active chats (Zipf-distributed activity,
as group chats are: a few busy, many quiet) through the real TTLCache, and counts misses: each
miss is one keyring unwrap (a Cloud KMS Decrypt). The baseline is an unbounded cache in the
same run, whose misses are the unavoidable first reads.

    .venv/bin/python bench/key_cache.py [--events 300000]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.cache import TTLCache


def misses(chats: int, size: int, events: int, seed: int = 7) -> tuple[int, int]:
    """(misses, evictions) over ``events`` accesses within one TTL (no expiry)."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(chats)]
    evicted = 0

    def count() -> None:
        nonlocal evicted
        evicted += 1

    cache: TTLCache[bytes] = TTLCache(3600, size, clock=lambda: 0.0, on_evict=count)
    missed = 0
    for chat in rng.choices(range(chats), weights=weights, k=events):
        if cache.get(chat) is None:
            missed += 1
            cache.set(chat, b"k" * 32)
    return missed, evicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()
    print(f"{args.events:,} accesses within one TTL; misses = keyring unwraps")
    header = ("active chats", "cache size", "misses", "evictions", "vs unbounded")
    print(" ".join(f"{h:>12}" for h in header))
    for chats in (500, 2_000, 5_000, 20_000):
        floor, _ = misses(chats, 10**9, args.events)
        for size in (1_000, 5_000, 20_000):
            missed, evicted = misses(chats, size, args.events)
            row = (
                f"{chats:,}",
                f"{size:,}",
                f"{missed:,}",
                f"{evicted:,}",
                f"{missed / floor:.2f}x",
            )
            print(" ".join(f"{cell:>12}" for cell in row))


if __name__ == "__main__":
    main()
