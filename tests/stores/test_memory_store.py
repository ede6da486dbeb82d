"""MemoryStore expiry on a fake clock, and the sweep of expired keys."""

from __future__ import annotations

import pytest

from jivs_security.stores import MemoryStore
from jivs_security.stores.memory import _SWEEP_EVERY_WRITES


class FakeClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at 1000 s."""
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    """A MemoryStore that reads time from ``clock``."""
    return MemoryStore(clock=clock)


def test_value_present_before_expiry(store: MemoryStore, clock: FakeClock) -> None:
    """A value is readable until just before its TTL has passed."""
    store.set("k", b"v", ttl=10)

    clock.advance(9.999)

    assert store.get("k") == b"v"


def test_value_absent_at_expiry(store: MemoryStore, clock: FakeClock) -> None:
    """A value is gone at the instant its TTL has passed."""
    store.set("k", b"v", ttl=10)

    clock.advance(10)

    assert store.get("k") is None
    assert store.get_many(["k"]) == [None]
    assert store.ttl("k") is None


def test_ttl_counts_down(store: MemoryStore, clock: FakeClock) -> None:
    """The remaining TTL falls as the clock advances."""
    store.set("k", b"v", ttl=10)

    clock.advance(4)

    assert store.ttl("k") == pytest.approx(6)


def test_fractional_ttl(store: MemoryStore, clock: FakeClock) -> None:
    """A fractional TTL is kept exactly, with no rounding to whole units."""
    store.set("k", b"v", ttl=0.25)

    clock.advance(0.125)

    assert store.ttl("k") == pytest.approx(0.125)


def test_value_without_ttl_survives(store: MemoryStore, clock: FakeClock) -> None:
    """A value set with ttl=None is still there after a long time."""
    store.set("k", b"v")

    clock.advance(10**9)

    assert store.get("k") == b"v"


def test_set_if_absent_after_expiry(store: MemoryStore, clock: FakeClock) -> None:
    """``set_if_absent`` treats an expired value as absent."""
    store.set_if_absent("k", b"first", ttl=10)
    clock.advance(10)

    stored = store.set_if_absent("k", b"second", ttl=10)

    assert stored is True
    assert store.get("k") == b"second"
    assert store.ttl("k") == pytest.approx(10)


def test_increment_keeps_expiry(store: MemoryStore, clock: FakeClock) -> None:
    """A counter keeps the expiry set by its first increment."""
    store.increment("n", ttl=10)
    clock.advance(6)

    store.increment("n", ttl=10)

    assert store.ttl("n") == pytest.approx(4)


def test_increment_restarts_after_expiry(store: MemoryStore, clock: FakeClock) -> None:
    """An expired counter restarts at the amount with a new TTL."""
    store.increment("n", 5, ttl=10)
    clock.advance(10)

    total = store.increment("n", 2, ttl=30)

    assert total == 2
    assert store.ttl("n") == pytest.approx(30)


def test_delete_expired_key(store: MemoryStore, clock: FakeClock) -> None:
    """An expired key does not count as deleted."""
    store.set("k", b"v", ttl=10)
    clock.advance(10)

    deleted = store.delete("k")

    assert deleted == 0


def test_sweep_removes_unread_expired_keys(store: MemoryStore, clock: FakeClock) -> None:
    """Expired keys that are never read again are dropped by the periodic sweep."""
    expiring = 10
    for index in range(expiring):
        store.set(f"old-{index}", b"v", ttl=1)
    clock.advance(2)
    for _ in range(_SWEEP_EVERY_WRITES - expiring - 1):
        store.set("live", b"v")
    held_before_sweep = repr(store)

    store.set("live", b"v")

    assert held_before_sweep == f"MemoryStore(keys={expiring + 1})"
    assert repr(store) == "MemoryStore(keys=1)"


def test_sweep_keeps_live_keys(store: MemoryStore, clock: FakeClock) -> None:
    """The sweep keeps keys that have not expired and keys without a TTL."""
    store.set("expiring", b"1", ttl=100)
    store.set("permanent", b"2")
    clock.advance(50)

    for _ in range(_SWEEP_EVERY_WRITES):
        store.set("live", b"v")

    assert store.get("expiring") == b"1"
    assert store.get("permanent") == b"2"
