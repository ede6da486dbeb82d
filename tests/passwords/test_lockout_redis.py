"""LockoutGuard on a real Redis server: process races, key layout, round trips and outages."""

from __future__ import annotations

import logging
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.queues import Queue

import pytest
import redis

import lockout_workers
from jivs_security.errors import AccountLocked, PasswordMismatch, StoreUnavailable
from jivs_security.passwords._lockout import LockoutGuard, LockoutPolicy
from jivs_security.stores import RedisStore
from servers import RedisServer

pytestmark = pytest.mark.integration

ACCOUNT = "alice@example.com"
IP = "203.0.113.7"

# Processes in the process race, and the attempts and threads of each.
PROCESSES = 4
ATTEMPTS_PER_PROCESS = 125
THREADS_PER_PROCESS = 25

# Seconds a test waits for child processes to finish.
RACE_TIMEOUT = 90.0

# A long first delay, so a slow machine cannot wait out a lock during a race
# and let a sixth attempt through.
RACE_POLICY = LockoutPolicy(base_delay=600.0)

# Sign-ins whose Redis commands are counted.
COUNTED_LOGINS = 20


@pytest.fixture
def server_store(redis_server: RedisServer) -> Iterator[RedisStore]:
    """A RedisStore on a private server that the test may stop."""
    store = RedisStore.from_url(redis_server.url, prefix="test:")

    yield store

    store.close()


def wrong_password() -> None:
    """Stand in for a hash verification that finds the password wrong."""
    raise PasswordMismatch


def lockout_keys(store: RedisStore) -> list[str]:
    """Return the names of every key under the store's prefix, without the prefix."""
    prefix = store.key("")
    return sorted(
        key.decode("ascii").removeprefix(prefix)
        for key in store.client.scan_iter(match=store.key("*"))
    )


def race_processes(redis_url: str, store: RedisStore, ips: list[str]) -> Counter[str]:
    """Make PROCESSES x ATTEMPTS_PER_PROCESS wrong-password logins at once; count outcomes.

    The count of verify calls, summed over every process, is the "calls"
    entry.
    """
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES)
    results: Queue[dict[str, int]] = spawn.Queue()
    processes = [
        spawn.Process(
            target=lockout_workers.race_wrong_passwords,
            kwargs={
                "url": redis_url,
                "prefix": store.key(""),
                "calls_key": "verify-calls",
                "policy": RACE_POLICY,
                "account": ACCOUNT,
                "ips": ips,
                "attempts": ATTEMPTS_PER_PROCESS,
                "threads": THREADS_PER_PROCESS,
                "barrier": barrier,
                "results": results,
            },
        )
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        outcomes: Counter[str] = Counter()
        for _ in processes:
            outcomes.update(results.get(timeout=RACE_TIMEOUT))
    finally:
        for process in processes:
            process.join(RACE_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()

    assert [process.exitcode for process in processes] == [0] * PROCESSES
    outcomes["calls"] = int(store.get("verify-calls") or b"0")
    return outcomes


def command_calls(client: redis.Redis) -> Counter[str]:
    """Return the server's calls per command, from INFO commandstats."""
    stats = client.info("commandstats")
    return Counter(
        {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}
    )


def count_commands(client: redis.Redis, action: Callable[[], object]) -> Counter[str]:
    """Return the commands the server ran during ``action()``, less the INFO that measures it.

    Commands that a script runs count too, as Redis counts them.
    """
    before = command_calls(client)
    action()
    after = command_calls(client)
    after["info"] -= 1
    return +(after - before)


# Concurrency across processes.


def test_process_race_one_address(redis_url: str, redis_store: RedisStore) -> None:
    """Of 500 wrong passwords from four processes and one address, exactly five are verified."""
    outcomes = race_processes(redis_url, redis_store, [IP])

    assert outcomes["calls"] == 5
    assert outcomes[lockout_workers.VERIFIED] == 5
    assert outcomes[lockout_workers.LOCKED] == PROCESSES * ATTEMPTS_PER_PROCESS - 5


def test_process_race_many_addresses(redis_url: str, redis_store: RedisStore) -> None:
    """Spread over 50 addresses, the 500 attempts still reach verification five times."""
    ips = [f"198.51.100.{index}" for index in range(1, 51)]

    outcomes = race_processes(redis_url, redis_store, ips)

    assert outcomes["calls"] == 5
    assert outcomes[lockout_workers.LOCKED] == PROCESSES * ATTEMPTS_PER_PROCESS - 5


# Key layout.


def test_keys_share_hash_tag(redis_store: RedisStore) -> None:
    """Every lockout key carries the one hash tag {jivs-lockout}."""
    guard = LockoutGuard(redis_store)

    guard.check(ACCOUNT, IP)
    keys = lockout_keys(redis_store)

    assert len(keys) == 3
    assert all(key.startswith("lock:{jivs-lockout}:") for key in keys)


def test_keys_hide_account_and_address(redis_store: RedisStore) -> None:
    """Key names hold SHA-256 prefixes, not the account or the address."""
    guard = LockoutGuard(redis_store)

    guard.check(ACCOUNT, IP)
    keys = lockout_keys(redis_store)

    assert not any("alice" in key or IP in key for key in keys)
    assert all(len(key.rsplit(":", 1)[1]) == 32 for key in keys)


def test_braces_in_account_keep_tag(redis_store: RedisStore) -> None:
    """An account with braces cannot move its key to another cluster slot."""
    guard = LockoutGuard(redis_store)

    guard.check("{victim}", IP)
    keys = lockout_keys(redis_store)

    assert all(key.count("{") == 1 for key in keys)
    assert all("{jivs-lockout}" in key for key in keys)


def test_keys_expire_after_window(redis_store: RedisStore) -> None:
    """Every key written by check() expires one failure window later."""
    guard = LockoutGuard(redis_store)

    guard.check(ACCOUNT, IP)
    ttls = [redis_store.client.pttl(redis_store.key(key)) for key in lockout_keys(redis_store)]

    assert all(24 * 3600 * 1000 - 60_000 < ttl <= 24 * 3600 * 1000 for ttl in ttls)


def test_release_keeps_expiry(redis_store: RedisStore) -> None:
    """The IP counter that survives a success keeps an expiry."""
    guard = LockoutGuard(redis_store)
    guard.record_failure(guard.check("user-1", IP))
    attempt = guard.check("user-2", IP)

    guard.record_success(attempt)
    keys = lockout_keys(redis_store)
    ttls = [redis_store.client.pttl(redis_store.key(key)) for key in keys]

    assert len(keys) == 3
    assert all(ttl > 0 for ttl in ttls)


def test_success_deletes_account_keys(redis_store: RedisStore) -> None:
    """A success leaves no account, (account, IP) or empty IP counter behind."""
    guard = LockoutGuard(redis_store)

    guard.login(ACCOUNT, IP, lambda: None)

    assert lockout_keys(redis_store) == []


# Round trips.


def test_check_one_round_trip(redis_store: RedisStore) -> None:
    """check() sends one EVALSHA; the script runs three GETs and three SETs inside it."""
    guard = LockoutGuard(redis_store)
    guard.record_failure(guard.check("warm-up", IP))

    commands = count_commands(
        redis_store.client,
        lambda: [guard.check(f"user-{index}", IP) for index in range(COUNTED_LOGINS)],
    )

    assert commands["evalsha"] == COUNTED_LOGINS
    assert set(commands) == {"evalsha", "get", "set"}


def test_record_failure_no_commands(redis_store: RedisStore) -> None:
    """record_failure() sends nothing to Redis."""
    guard = LockoutGuard(redis_store)
    attempts = [guard.check(f"user-{index}", IP) for index in range(COUNTED_LOGINS)]

    def record_all() -> None:
        for attempt in attempts:
            guard.record_failure(attempt)

    commands = count_commands(redis_store.client, record_all)

    assert commands == Counter()


def test_record_success_one_round_trip(redis_store: RedisStore) -> None:
    """record_success() sends one EVALSHA once the release script is loaded."""
    guard = LockoutGuard(redis_store)
    guard.login("warm-up", IP, lambda: None)
    attempts = [guard.check(f"user-{index}", IP) for index in range(COUNTED_LOGINS)]

    def record_all() -> None:
        for attempt in attempts:
            guard.record_success(attempt)

    commands = count_commands(redis_store.client, record_all)

    assert commands["evalsha"] == COUNTED_LOGINS
    assert "script" not in commands


# Outages.


def test_outage_fails_closed(server_store: RedisStore, redis_server: RedisServer) -> None:
    """With the default policy a stopped Redis makes login() raise StoreUnavailable."""
    guard = LockoutGuard(server_store)
    calls: list[int] = []
    redis_server.stop()

    with pytest.raises(StoreUnavailable):
        guard.login(ACCOUNT, IP, lambda: calls.append(1))

    assert calls == []


def test_outage_fails_open(server_store: RedisStore, redis_server: RedisServer) -> None:
    """With on_store_error='open' a stopped Redis lets the attempt through uncounted."""
    guard = LockoutGuard(server_store, on_store_error="open")
    redis_server.stop()

    attempt = guard.check(ACCOUNT, IP)

    assert attempt.counted is False
    assert attempt.failures == 0


def test_outage_open_login_verifies(server_store: RedisStore, redis_server: RedisServer) -> None:
    """With on_store_error='open' login() still verifies and records without raising."""
    guard = LockoutGuard(server_store, on_store_error="open")
    redis_server.stop()

    result = guard.login(ACCOUNT, IP, lambda: "verified")

    assert result == "verified"


def test_outage_open_warns_once(
    server_store: RedisStore, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Attempts let through during an outage log one WARNING per minute, not one each."""
    caplog.set_level(logging.INFO, logger="jivs_security.passwords")
    guard = LockoutGuard(server_store, on_store_error="open")
    redis_server.stop()

    for _ in range(5):
        guard.check(ACCOUNT, IP)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]

    assert len(warnings) == 1
    assert "on_store_error='open'" in warnings[0].getMessage()


def test_outage_during_release_logged(
    server_store: RedisStore, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A success recorded while Redis is down logs a WARNING instead of raising."""
    caplog.set_level(logging.INFO, logger="jivs_security.passwords")
    guard = LockoutGuard(server_store)
    attempt = guard.check(ACCOUNT, IP)
    redis_server.stop()

    guard.record_success(attempt)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]

    assert len(warnings) == 1
    assert "stays counted" in warnings[0].getMessage()


def test_outage_then_restart(server_store: RedisStore, redis_server: RedisServer) -> None:
    """After Redis restarts without its script cache, check() works again."""
    guard = LockoutGuard(server_store)
    guard.check(ACCOUNT, IP)
    redis_server.stop()
    with pytest.raises(StoreUnavailable):
        guard.check(ACCOUNT, IP)

    redis_server.start()
    attempt = guard.check(ACCOUNT, IP)

    assert attempt.failures == 1


def test_admin_reset_on_outage_raises(server_store: RedisStore, redis_server: RedisServer) -> None:
    """reset() raises StoreUnavailable even with on_store_error='open'."""
    guard = LockoutGuard(server_store, on_store_error="open")
    redis_server.stop()

    with pytest.raises(StoreUnavailable):
        guard.reset(ACCOUNT)


def test_locked_survives_new_guard(redis_store: RedisStore) -> None:
    """A second guard on the same Redis, as on another server, raises the same lock."""
    first = LockoutGuard(redis_store)
    for _ in range(5):
        first.record_failure(first.check(ACCOUNT, IP))

    with pytest.raises(AccountLocked) as caught:
        LockoutGuard(redis_store).check(ACCOUNT, "198.51.100.1")

    assert caught.value.scope == "account"
