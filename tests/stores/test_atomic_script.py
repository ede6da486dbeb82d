"""AtomicScript: the Lua and Python halves of one script behave alike on every backend."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from jivs_security.errors import StoreUnavailable
from jivs_security.stores import AtomicScript, KeyValueStore, RedisStore, ScriptView
from servers import RedisServer

# Moves ``amount`` from the first key to the second, refusing to go below
# zero, and returns both balances. Missing keys count as 0.
TRANSFER_LUA = """
local amount = tonumber(ARGV[1])
local source = tonumber(redis.call('GET', KEYS[1]) or '0')
local target = tonumber(redis.call('GET', KEYS[2]) or '0')
if source < amount then
    return {source, target, 0}
end
redis.call('SET', KEYS[1], tostring(source - amount), 'PX', ARGV[2])
redis.call('SET', KEYS[2], tostring(target + amount), 'PX', ARGV[2])
return {source - amount, target + amount, 1}
"""


def transfer_python(view: ScriptView, keys: Sequence[str], args: Sequence[str]) -> list[int]:
    amount = int(args[0])
    ttl = int(args[1]) / 1000
    source = int(view.get(keys[0]) or b"0")
    target = int(view.get(keys[1]) or b"0")
    if source < amount:
        return [source, target, 0]
    view.set(keys[0], str(source - amount).encode(), ttl)
    view.set(keys[1], str(target + amount).encode(), ttl)
    return [source - amount, target + amount, 1]


TRANSFER = AtomicScript(name="test-transfer", lua=TRANSFER_LUA, python=transfer_python)

TTL_MS = 60_000


def test_script_result_shape(store: KeyValueStore) -> None:
    """A script returns a list of integers on both backends."""
    store.set("a", b"10")

    result = store.run_script(TRANSFER, ["a", "b"], [3, TTL_MS])

    assert result == [7, 3, 1]
    assert store.get("a") == b"7"
    assert store.get("b") == b"3"


def test_script_refuses_overdraw(store: KeyValueStore) -> None:
    """The script's own condition is applied, and nothing is written when it fails."""
    store.set("a", b"2")

    result = store.run_script(TRANSFER, ["a", "b"], [3, TTL_MS])

    assert result == [2, 0, 0]
    assert store.get("b") is None


def test_script_sets_ttl(store: KeyValueStore) -> None:
    """Writes made by a script carry the TTL the script gives them."""
    store.set("a", b"5")

    store.run_script(TRANSFER, ["a", "b"], [1, TTL_MS])
    remaining = store.ttl("b")

    assert remaining is not None
    assert 0 < remaining <= TTL_MS / 1000


def test_script_atomic_under_threads(store: KeyValueStore) -> None:
    """Concurrent transfers never lose or create units, so the script is one step."""
    store.set("a", b"100")
    barrier = threading.Barrier(8)
    successes: list[int] = []

    def work() -> None:
        barrier.wait()
        for _ in range(25):
            successes.append(store.run_script(TRANSFER, ["a", "b"], [1, TTL_MS])[2])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(successes) == 100
    assert store.get("a") == b"0"
    assert store.get("b") == b"100"


@pytest.mark.integration
def test_script_on_stopped_redis(redis_server: RedisServer) -> None:
    """A script against a stopped Redis raises StoreUnavailable naming the script."""
    store = RedisStore.from_url(redis_server.url, prefix="test:")
    redis_server.stop()

    with pytest.raises(StoreUnavailable) as caught:
        store.run_script(TRANSFER, ["a", "b"], [1, TTL_MS])

    assert caught.value.operation == "run_script(test-transfer)"
    store.close()
