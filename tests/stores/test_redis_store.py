"""RedisStore behaviour that only a real Redis server shows."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import closing
from multiprocessing.context import SpawnContext
from pathlib import Path
from uuid import uuid4

import pytest
import redis

import store_workers
from jivs_security.errors import ConfigurationError, StoreUnavailable
from jivs_security.stores import KeyValueStore, RedisStore
from jivs_security.stores.redis import _milliseconds
from servers import RedisServer

PASSWORD = "hunter2-secret"

# Maximum seconds to wait for a child process to finish.
PROCESS_TIMEOUT = 60.0

UNAVAILABLE_CALLS: dict[str, Callable[[RedisStore], object]] = {
    "get": lambda store: store.get("k"),
    "get_many": lambda store: store.get_many(["k", "other"]),
    "set": lambda store: store.set("k", b"v", ttl=60),
    "set_if_absent": lambda store: store.set_if_absent("k", b"v", ttl=60),
    "increment": lambda store: store.increment("k", ttl=60),
    "ttl": lambda store: store.ttl("k"),
    "delete": lambda store: store.delete("k"),
}


@pytest.fixture
def server_store(redis_server: RedisServer) -> Iterator[RedisStore]:
    """A RedisStore on ``redis_server`` that has written once, so its pool holds a connection."""
    store = RedisStore.from_url(redis_server.url, prefix="test:")
    store.set("warm-up", b"1")

    yield store

    store.close()


@pytest.fixture
def spawn() -> SpawnContext:
    """A multiprocessing context that starts fresh interpreters, as on macOS and Windows."""
    return multiprocessing.get_context("spawn")


def test_redis_store_is_key_value_store(redis_store: RedisStore) -> None:
    """RedisStore satisfies the runtime-checkable protocol."""
    assert isinstance(redis_store, KeyValueStore)


def test_keys_carry_prefix(redis_url: str) -> None:
    """Keys are stored in Redis under the store's prefix."""
    prefix = f"test:{uuid4().hex}:"
    key = uuid4().hex
    with closing(RedisStore.from_url(redis_url, prefix=prefix)) as store:
        store.set(key, b"v", ttl=60)

        name = store.key(key)
        under_prefix = store.client.get(f"{prefix}{key}")
        unprefixed = store.client.get(key)
        store.delete(key)

    assert name == f"{prefix}{key}"
    assert under_prefix == b"v"
    assert unprefixed is None


def test_client_without_socket_timeout_rejected(redis_url: str) -> None:
    """A client with socket_timeout=None is rejected, because it could block forever."""
    client = redis.Redis.from_url(redis_url, socket_timeout=None)

    with closing(client), pytest.raises(ConfigurationError) as caught:
        RedisStore(client)

    assert caught.value.setting == "client"


def test_client_with_socket_timeout_accepted(redis_url: str) -> None:
    """A client built with a socket timeout is accepted and used as given."""
    with closing(redis.Redis.from_url(redis_url, socket_timeout=1.0)) as client:
        store = RedisStore(client)

        assert store.client is client
        assert store.get("missing") is None


def test_client_decoding_responses_rejected(redis_url: str) -> None:
    """A client with decode_responses=True is rejected, because reads must return bytes."""
    client = redis.Redis.from_url(redis_url, socket_timeout=1.0, decode_responses=True)

    with closing(client), pytest.raises(ConfigurationError) as caught:
        RedisStore(client)

    assert caught.value.setting == "client"


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf")])
def test_from_url_invalid_socket_timeout(redis_url: str, seconds: float) -> None:
    """``from_url`` rejects a socket timeout that is not finite and above 0."""
    with pytest.raises(ConfigurationError) as caught:
        RedisStore.from_url(redis_url, socket_timeout=seconds)

    assert caught.value.setting == "socket_timeout"


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf")])
def test_from_url_invalid_connect_timeout(redis_url: str, seconds: float) -> None:
    """``from_url`` rejects a connect timeout that is not finite and above 0."""
    with pytest.raises(ConfigurationError) as caught:
        RedisStore.from_url(redis_url, connect_timeout=seconds)

    assert caught.value.setting == "connect_timeout"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0001, 1), (0.001, 1), (0.0015, 2), (0.05, 50), (1.5, 1500), (60, 60000)],
)
def test_ttl_rounds_up_to_milliseconds(seconds: float, expected: int) -> None:
    """TTLs become whole milliseconds, rounded up so a tiny TTL never becomes 0."""
    assert _milliseconds(seconds) == expected


def test_ttl_in_redis(redis_store: RedisStore) -> None:
    """A TTL in seconds is set on the Redis key in milliseconds."""
    redis_store.set("k", b"v", ttl=60)

    remaining = redis_store.client.pttl(redis_store.key("k"))

    assert 0 < remaining <= 60_000


def test_repr_hides_password(redis_server: RedisServer) -> None:
    """The repr of a store built from a URL with a password shows the address only."""
    url = f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    with closing(RedisStore.from_url(url, prefix="test:")) as store:
        text = repr(store)

    assert PASSWORD not in text
    assert f"127.0.0.1:{redis_server.port}" in text


@pytest.mark.parametrize("operation", sorted(UNAVAILABLE_CALLS))
def test_stopped_server_unavailable(
    server_store: RedisStore, redis_server: RedisServer, operation: str
) -> None:
    """Every operation on a stopped server raises StoreUnavailable instead of blocking."""
    redis_server.stop()

    with pytest.raises(StoreUnavailable) as caught:
        UNAVAILABLE_CALLS[operation](server_store)

    assert caught.value.operation == operation
    assert caught.value.backend == "RedisStore"
    assert caught.value.retryable is True
    assert isinstance(caught.value, ConnectionError)


@pytest.mark.integration
def test_unavailable_message_hides_password(tmp_path: Path) -> None:
    """StoreUnavailable from a password-protected server that is down omits the password."""
    server = RedisServer(data_dir=tmp_path / "redis", password=PASSWORD)
    with server, closing(RedisStore.from_url(server.url, prefix="test:")) as store:
        store.set("k", b"v")
        server.stop()

        with pytest.raises(StoreUnavailable) as caught:
            store.get("k")

    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value)
    assert PASSWORD not in str(caught.value.__cause__)


@pytest.mark.integration
def test_wrong_password_not_retryable(tmp_path: Path) -> None:
    """A rejected password raises StoreUnavailable marked as not worth retrying."""
    with RedisServer(data_dir=tmp_path / "redis", password=PASSWORD) as server:
        wrong_url = server.url.replace(PASSWORD, "not-the-password")
        with (
            closing(RedisStore.from_url(wrong_url, prefix="test:")) as store,
            pytest.raises(StoreUnavailable) as caught,
        ):
            store.get("k")

    assert caught.value.retryable is False
    assert "not-the-password" not in str(caught.value)


def test_store_recovers_after_restart(server_store: RedisStore, redis_server: RedisServer) -> None:
    """After the server restarts, the same store works again without being rebuilt."""
    # Loads the increment script, which the restarted server no longer has cached.
    server_store.increment("before", ttl=60)
    redis_server.stop()
    with pytest.raises(StoreUnavailable):
        server_store.get("k")

    redis_server.start()

    assert server_store.set_if_absent("k", b"v", ttl=60) is True
    assert server_store.get("k") == b"v"
    assert server_store.increment("after", ttl=60) == 1


def test_set_if_absent_process_race(redis_url: str, spawn: SpawnContext) -> None:
    """When two processes race on the same keys, each key is stored by exactly one of them."""
    prefix = f"test:{uuid4().hex}:"
    keys = [f"key-{index}" for index in range(200)]
    barrier = spawn.Barrier(2)
    results = spawn.Queue()
    processes = [
        spawn.Process(
            target=store_workers.claim_keys, args=(redis_url, prefix, keys, barrier, results)
        )
        for _ in range(2)
    ]

    for process in processes:
        process.start()
    claimed = [results.get(timeout=PROCESS_TIMEOUT) for _ in processes]
    for process in processes:
        process.join(PROCESS_TIMEOUT)
    results.close()
    with closing(RedisStore.from_url(redis_url, prefix=prefix)) as store:
        store.delete(*keys)

    assert [process.exitcode for process in processes] == [0, 0]
    assert set(claimed[0]).isdisjoint(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(keys)


def test_increment_process_race(redis_url: str, spawn: SpawnContext) -> None:
    """Increments from two processes on one counter lose no update."""
    prefix = f"test:{uuid4().hex}:"
    per_process = 300
    barrier = spawn.Barrier(2)
    processes = [
        spawn.Process(
            target=store_workers.increment_counter,
            args=(redis_url, prefix, "n", per_process, barrier),
        )
        for _ in range(2)
    ]

    for process in processes:
        process.start()
    for process in processes:
        process.join(PROCESS_TIMEOUT)

    with closing(RedisStore.from_url(redis_url, prefix=prefix)) as store:
        total = store.get("n")
        store.delete("n")

    assert [process.exitcode for process in processes] == [0, 0]
    assert total == str(2 * per_process).encode("ascii")


@pytest.mark.parametrize(
    "url", ["notaurl", "http://127.0.0.1:6379/0", "redis://:secret-pw@127.0.0.1:notaport/0"]
)
def test_from_url_invalid_url(url: str) -> None:
    """A malformed URL raises ConfigurationError without echoing the URL's password."""
    with pytest.raises(ConfigurationError) as caught:
        RedisStore.from_url(url)

    assert caught.value.setting == "url"
    assert "secret-pw" not in str(caught.value)
