"""The unwrapped-chat-key cache: entries expire after ttl and the least recently used go first."""

from __future__ import annotations

import pytest

from crypto.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_it_returns_what_was_stored(clock: Clock) -> None:
    cache: TTLCache[bytes] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.set(("chat", 1), b"key")
    assert cache.get(("chat", 1)) == b"key"
    assert len(cache) == 1


def test_it_returns_none_for_a_key_it_never_stored(clock: Clock) -> None:
    cache: TTLCache[bytes] = TTLCache(ttl=60, max_size=10, clock=clock)
    assert cache.get("missing") is None


def test_an_entry_lives_until_just_before_its_ttl(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.set("k", "v")
    clock.advance(59.999)
    assert cache.get("k") == "v"


def test_an_entry_expires_at_its_ttl(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.set("k", "v")
    clock.advance(60)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_reading_an_entry_does_not_extend_its_life(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.set("k", "v")
    for _ in range(5):
        clock.advance(11)
        assert cache.get("k") == "v"
    clock.advance(5)
    assert cache.get("k") is None


def test_storing_again_restarts_the_ttl(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.set("k", "old")
    clock.advance(50)
    cache.set("k", "new")
    clock.advance(50)
    assert cache.get("k") == "new"
    assert len(cache) == 1


def test_it_evicts_the_oldest_entry_past_max_size(clock: Clock) -> None:
    cache: TTLCache[int] = TTLCache(ttl=60, max_size=3, clock=clock)
    for n in range(4):
        cache.set(n, n)
    assert len(cache) == 3
    assert cache.get(0) is None
    assert [cache.get(n) for n in (1, 2, 3)] == [1, 2, 3]


def test_it_evicts_the_least_recently_read_entry_not_the_oldest(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=3, clock=clock)
    cache.set("a", "A")
    cache.set("b", "B")
    cache.set("c", "C")
    assert cache.get("a") == "A"  # "b" is now the least recently used
    cache.set("d", "D")
    assert cache.get("b") is None
    assert cache.get("a") == "A"
    assert cache.get("c") == "C"
    assert cache.get("d") == "D"


def test_overwriting_an_entry_counts_as_using_it(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=2, clock=clock)
    cache.set("a", "A")
    cache.set("b", "B")
    cache.set("a", "A2")
    cache.set("c", "C")
    assert cache.get("b") is None
    assert cache.get("a") == "A2"
    assert cache.get("c") == "C"


def test_a_cache_of_one_keeps_only_the_last_entry(clock: Clock) -> None:
    cache: TTLCache[int] = TTLCache(ttl=60, max_size=1, clock=clock)
    for n in range(10):
        cache.set(n, n)
        assert len(cache) == 1
    assert cache.get(9) == 9
    assert cache.get(8) is None


def test_discard_drops_one_entry(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.set("a", "A")
    cache.set("b", "B")
    cache.discard("a")
    assert cache.get("a") is None
    assert cache.get("b") == "B"
    assert len(cache) == 1


def test_discarding_a_missing_entry_is_harmless(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=60, max_size=10, clock=clock)
    cache.discard("never-stored")
    assert len(cache) == 0


def test_clear_drops_every_entry(clock: Clock) -> None:
    cache: TTLCache[int] = TTLCache(ttl=60, max_size=10, clock=clock)
    for n in range(5):
        cache.set(n, n)
    cache.clear()
    assert len(cache) == 0
    assert all(cache.get(n) is None for n in range(5))


def test_it_uses_a_real_monotonic_clock_by_default() -> None:
    cache: TTLCache[str] = TTLCache(ttl=3600, max_size=10)
    cache.set("k", "v")
    assert cache.get("k") == "v"


@pytest.mark.parametrize(
    ("ttl", "max_size"),
    [(0, 10), (-1, 10), (-0.001, 10), (60, 0), (60, -1), (0, 0)],
)
def test_it_rejects_a_ttl_or_size_that_is_not_positive(ttl: float, max_size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        TTLCache(ttl=ttl, max_size=max_size)


def test_it_accepts_a_fractional_ttl(clock: Clock) -> None:
    cache: TTLCache[str] = TTLCache(ttl=0.5, max_size=1, clock=clock)
    cache.set("k", "v")
    clock.advance(0.25)
    assert cache.get("k") == "v"
    clock.advance(0.25)
    assert cache.get("k") is None


def test_it_reports_each_eviction_for_size_but_not_expiry() -> None:
    now = [0.0]
    evictions: list[None] = []
    cache: TTLCache[int] = TTLCache(
        10, 2, clock=lambda: now[0], on_evict=lambda: evictions.append(None)
    )
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("c", 3)  # evicts "a"
    assert len(evictions) == 1
    now[0] = 11
    assert cache.get("b") is None  # expired: not an eviction for size
    cache.set("d", 4)
    assert len(evictions) == 1
