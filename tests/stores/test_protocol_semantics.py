"""The KeyValueStore contract, checked against every backend through the ``store`` fixture."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import pytest

from jivs_security.errors import ConfigurationError, StoreError, StoreUnavailable
from jivs_security.stores import KeyValueStore

THREADS = 16

# Maximum seconds to wait for a key with a short TTL to disappear.
EXPIRY_WAIT = 5.0

INVALID_TTLS = [
    pytest.param(0, id="zero"),
    pytest.param(0.0, id="zero-float"),
    pytest.param(-1, id="negative"),
    pytest.param(-0.5, id="negative-float"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(-math.inf, id="minus-inf"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param("5", id="string"),
]

# Values that Redis 6.2 rejects for INCRBY, checked against a real server.
NOT_INTEGERS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"abc", id="letters"),
    pytest.param(b"1.5", id="decimal"),
    pytest.param(b" 5", id="leading-space"),
    pytest.param(b"5\n", id="trailing-newline"),
    pytest.param(b"+5", id="plus-sign"),
    pytest.param(b"05", id="leading-zero"),
    pytest.param(b"-0", id="minus-zero"),
    pytest.param(b"1_000", id="underscore"),
    pytest.param(b"9223372036854775808", id="above-int64"),
]


def write_with_ttl(store: KeyValueStore, operation: str, key: str, ttl: object) -> None:
    """Call the write ``operation`` of ``store`` on ``key`` with ``ttl``."""
    if operation == "set":
        store.set(key, b"v", ttl=ttl)  # type: ignore[arg-type]
    elif operation == "set_if_absent":
        store.set_if_absent(key, b"v", ttl=ttl)  # type: ignore[arg-type]
    else:
        store.increment(key, ttl=ttl)  # type: ignore[arg-type]


def run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(index)`` in ``count`` threads that start together and return the results."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test thread below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def wait_until_absent(store: KeyValueStore, key: str) -> bool:
    """Poll ``store`` until ``key`` is absent and return whether that took under EXPIRY_WAIT s."""
    deadline = time.monotonic() + EXPIRY_WAIT
    while store.get(key) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def test_store_is_key_value_store(store: KeyValueStore) -> None:
    """Every backend satisfies the runtime-checkable protocol."""
    assert isinstance(store, KeyValueStore)


def test_get_missing_key(store: KeyValueStore) -> None:
    """A key that was never set reads as None."""
    assert store.get("missing") is None


def test_set_then_get(store: KeyValueStore) -> None:
    """A stored value reads back byte for byte."""
    store.set("k", b"\x00value\xff")

    assert store.get("k") == b"\x00value\xff"


def test_set_replaces_value(store: KeyValueStore) -> None:
    """A second set overwrites the first value."""
    store.set("k", b"old")

    store.set("k", b"new")

    assert store.get("k") == b"new"


def test_set_replaces_ttl(store: KeyValueStore) -> None:
    """A ``set`` without a TTL removes the expiry of the value it replaces."""
    store.set("k", b"old", ttl=60)

    store.set("k", b"new")

    assert store.ttl("k") is None


def test_set_without_ttl_never_expires(store: KeyValueStore) -> None:
    """A value set with ttl=None has no TTL."""
    store.set("k", b"v")

    assert store.ttl("k") is None


def test_set_with_ttl(store: KeyValueStore) -> None:
    """A value set with a TTL reports a remaining time within that TTL."""
    store.set("k", b"v", ttl=60)

    remaining = store.ttl("k")

    assert remaining is not None
    assert 0 < remaining <= 60


def test_ttl_missing_key(store: KeyValueStore) -> None:
    """The TTL of an absent key is None."""
    assert store.ttl("missing") is None


def test_set_with_ttl_expires(store: KeyValueStore) -> None:
    """A value with a short TTL disappears once the TTL has passed."""
    store.set("k", b"v", ttl=0.05)

    absent = wait_until_absent(store, "k")

    assert absent
    assert store.ttl("k") is None


def test_delete_counts_existing_keys(store: KeyValueStore) -> None:
    """``delete`` returns how many of the keys existed."""
    store.set("a", b"1")
    store.set("b", b"2")

    deleted = store.delete("a", "b", "missing")

    assert deleted == 2


def test_delete_removes_keys(store: KeyValueStore) -> None:
    """Deleted keys read as None and other keys stay."""
    store.set("a", b"1")
    store.set("b", b"2")
    store.set("kept", b"3")

    store.delete("a", "b")

    assert store.get("a") is None
    assert store.get("b") is None
    assert store.get("kept") == b"3"


def test_delete_no_keys(store: KeyValueStore) -> None:
    """``delete`` with no keys deletes nothing and returns 0."""
    assert store.delete() == 0


def test_get_many_keeps_order(store: KeyValueStore) -> None:
    """``get_many`` returns values in the order of the keys, None for absent ones."""
    store.set("a", b"1")
    store.set("c", b"3")

    values = store.get_many(["c", "missing", "a", "c"])

    assert values == [b"3", None, b"1", b"3"]


def test_get_many_no_keys(store: KeyValueStore) -> None:
    """``get_many`` of an empty sequence is an empty list."""
    assert store.get_many([]) == []


def test_set_if_absent_stores_new_key(store: KeyValueStore) -> None:
    """``set_if_absent`` on an absent key stores the value with the TTL and returns True."""
    stored = store.set_if_absent("k", b"first", ttl=60)

    remaining = store.ttl("k")
    assert stored is True
    assert store.get("k") == b"first"
    assert remaining is not None
    assert 0 < remaining <= 60


def test_set_if_absent_keeps_existing(store: KeyValueStore) -> None:
    """``set_if_absent`` on a present key returns False and changes neither value nor TTL."""
    store.set("k", b"first")

    stored = store.set_if_absent("k", b"second", ttl=60)

    assert stored is False
    assert store.get("k") == b"first"
    assert store.ttl("k") is None


def test_set_if_absent_after_expiry(store: KeyValueStore) -> None:
    """``set_if_absent`` succeeds again once the previous value has expired."""
    store.set_if_absent("k", b"first", ttl=0.05)
    assert wait_until_absent(store, "k")

    stored = store.set_if_absent("k", b"second", ttl=60)

    assert stored is True
    assert store.get("k") == b"second"


def test_set_if_absent_thread_race(store: KeyValueStore) -> None:
    """When many threads race on one key, exactly one stores its value."""

    def claim(index: int) -> bool:
        return store.set_if_absent("race", str(index).encode("ascii"), ttl=60)

    results = run_in_threads(THREADS, claim)

    winners = [index for index, stored in enumerate(results) if stored is True]
    assert len(winners) == 1
    assert store.get("race") == str(winners[0]).encode("ascii")


def test_increment_creates_counter(store: KeyValueStore) -> None:
    """``increment`` of an absent key returns the amount and gives the counter the TTL."""
    total = store.increment("n", 3, ttl=60)

    remaining = store.ttl("n")
    assert total == 3
    assert store.get("n") == b"3"
    assert remaining is not None
    assert 0 < remaining <= 60


def test_increment_adds_amount(store: KeyValueStore) -> None:
    """Increments add up, negative amounts included, and the default amount is 1."""
    store.increment("n", ttl=60)
    store.increment("n", 10, ttl=60)

    total = store.increment("n", -4, ttl=60)

    assert total == 7
    assert store.get("n") == b"7"


def test_increment_keeps_existing_ttl(store: KeyValueStore) -> None:
    """A later increment with a longer TTL does not extend the counter's expiry."""
    store.increment("n", ttl=60)

    store.increment("n", ttl=3600)

    remaining = store.ttl("n")
    assert remaining is not None
    assert remaining <= 60


def test_increment_adds_ttl_when_missing(store: KeyValueStore) -> None:
    """``increment`` of a value stored without expiry gives it the TTL."""
    store.set("n", b"5")

    total = store.increment("n", ttl=60)

    remaining = store.ttl("n")
    assert total == 6
    assert remaining is not None
    assert 0 < remaining <= 60


def test_increment_after_expiry(store: KeyValueStore) -> None:
    """An expired counter starts again from zero."""
    store.increment("n", 5, ttl=0.05)
    assert wait_until_absent(store, "n")

    total = store.increment("n", ttl=60)

    assert total == 1


def test_increment_thread_race(store: KeyValueStore) -> None:
    """Concurrent increments from many threads lose no update."""
    per_thread = 50

    def count(_index: int) -> None:
        for _ in range(per_thread):
            store.increment("n", ttl=60)

    run_in_threads(THREADS, count)

    assert store.get("n") == str(THREADS * per_thread).encode("ascii")


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_increment_not_integer(store: KeyValueStore, value: bytes) -> None:
    """``increment`` of a value that is not a 64-bit integer raises StoreError, keeping it."""
    store.set("n", value)

    with pytest.raises(StoreError) as caught:
        store.increment("n", ttl=60)

    assert not isinstance(caught.value, StoreUnavailable)
    assert caught.value.operation == "increment"
    assert store.get("n") == value


def test_increment_overflow(store: KeyValueStore) -> None:
    """``increment`` past the largest 64-bit integer raises StoreError and keeps the value."""
    store.set("n", b"9223372036854775807")

    with pytest.raises(StoreError) as caught:
        store.increment("n", ttl=60)

    assert not isinstance(caught.value, StoreUnavailable)
    assert store.get("n") == b"9223372036854775807"


@pytest.mark.parametrize("operation", ["set", "set_if_absent", "increment"])
@pytest.mark.parametrize("ttl", INVALID_TTLS)
def test_invalid_ttl_rejected(store: KeyValueStore, operation: str, ttl: object) -> None:
    """A TTL that is not a finite number of seconds above 0 raises ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        write_with_ttl(store, operation, "k", ttl)

    assert caught.value.setting == "ttl"
    assert store.get("k") is None
