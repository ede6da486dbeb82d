"""TokenService on a real Redis server: refresh races, shared revocation and outages."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest
import redis

from jivs_security.errors import (
    JivsSecurityError,
    RefreshTokenReused,
    StoreUnavailable,
    TokenRevoked,
)
from jivs_security.stores import RedisStore
from jivs_security.tokens import KeyRing, TokenKind, TokenPair, TokenService

if TYPE_CHECKING:
    # mypy names the modules of this folder without a package.
    import token_workers
else:
    # At run time tests/ is on sys.path, so this folder is the namespace
    # package "tokens". Spawned processes import the worker by that name.
    from tokens import token_workers

pytestmark = pytest.mark.integration

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"

# Concurrent refresh() calls in the thread race.
THREADS = 50

# Processes in the process race, and concurrent refresh() calls in each.
PROCESSES = 4
CALLS_PER_PROCESS = 5

# Seconds a test waits for threads or child processes to finish.
RACE_TIMEOUT = 60.0

# Verifications whose Redis commands are counted.
VERIFICATIONS = 20


class StoppableServer(Protocol):
    """The part of servers.RedisServer used here.

    The fixture is not annotated with RedisServer itself because
    ``mypy tests/tokens`` does not put tests/ on mypy's search path.
    """

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RaceResult:
    """Outcomes of concurrent refresh() calls: counts by outcome, and the one new pair."""

    outcomes: Counter[str]
    winner_access_token: str
    winner_refresh_token: str


@pytest.fixture
def ring() -> KeyRing:
    """A ring with one new EdDSA key."""
    return KeyRing.generate("EdDSA")


@pytest.fixture
def service(ring: KeyRing, redis_store: RedisStore) -> TokenService:
    """A token service with default settings on the session's Redis server."""
    return TokenService(ring, redis_store, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def server_service(ring: KeyRing, redis_server: StoppableServer) -> Iterator[TokenService]:
    """A token service on a private Redis server that the test may stop."""
    store = RedisStore.from_url(redis_server.url, prefix="test:")

    yield TokenService(ring, store, issuer=ISSUER, audience=AUDIENCE)

    store.close()


def prefix_of(store: RedisStore) -> str:
    """Return the key prefix of ``store``."""
    return store.key("")


def race_threads(service: TokenService, refresh_token: str) -> RaceResult:
    """Call refresh() with one token from THREADS threads released together."""
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> tuple[str, TokenPair | None]:
        barrier.wait(RACE_TIMEOUT)
        try:
            pair = service.refresh(refresh_token)
        except JivsSecurityError as exc:
            return (type(exc).__name__, None)
        return (token_workers.REFRESHED, pair)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(attempt, range(THREADS), timeout=RACE_TIMEOUT))

    winners = [pair for _, pair in results if pair is not None]
    return RaceResult(
        outcomes=Counter(outcome for outcome, _ in results),
        winner_access_token=winners[0].access_token if winners else "",
        winner_refresh_token=winners[0].refresh_token if winners else "",
    )


def race_processes(
    ring: KeyRing, redis_url: str, store: RedisStore, refresh_token: str, tmp_path: Path
) -> RaceResult:
    """Call refresh() with one token from PROCESSES spawned processes released together."""
    key_file = tmp_path / "keys.json"
    ring.save(key_file)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES)
    results: Queue[list[token_workers.Outcome]] = spawn.Queue()
    processes = [
        spawn.Process(
            target=token_workers.refresh_concurrently,
            kwargs={
                "key_file": str(key_file),
                "url": redis_url,
                "prefix": prefix_of(store),
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "refresh_token": refresh_token,
                "calls": CALLS_PER_PROCESS,
                "barrier": barrier,
                "results": results,
            },
        )
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [outcome for _ in processes for outcome in results.get(timeout=RACE_TIMEOUT)]
    finally:
        for process in processes:
            process.join(RACE_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()

    assert [process.exitcode for process in processes] == [0] * PROCESSES
    winners = [(access, refresh) for outcome, access, refresh in outcomes if access]
    return RaceResult(
        outcomes=Counter(outcome for outcome, _, _ in outcomes),
        winner_access_token=winners[0][0] if winners else "",
        winner_refresh_token=winners[0][1] if winners else "",
    )


def command_counts(client: redis.Redis) -> tuple[int, Counter[str]]:
    """Return the server's total_commands_processed and its calls per command, from one INFO."""
    info = client.info("all")
    calls = Counter(
        {
            name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in info.items()
            if name.startswith("cmdstat_")
        }
    )
    return int(info["total_commands_processed"]), calls


# Refresh races.


def test_refresh_thread_race_one_winner(service: TokenService) -> None:
    """Of 50 concurrent refresh() calls with one token, one wins and 49 raise RefreshTokenReused."""
    pair = service.issue("alice")

    race = race_threads(service, pair.refresh_token)

    assert race.outcomes[token_workers.REFRESHED] == 1
    assert race.outcomes["RefreshTokenReused"] == THREADS - 1


def test_thread_race_later_reuse_rejected(service: TokenService) -> None:
    """After the thread race, another use of the raced token raises RefreshTokenReused."""
    pair = service.issue("alice")
    race_threads(service, pair.refresh_token)

    with pytest.raises(RefreshTokenReused) as caught:
        service.refresh(pair.refresh_token)

    assert caught.value.family_id == pair.family_id


def test_thread_race_winner_revoked(service: TokenService) -> None:
    """After the thread race, the tokens the winner received are revoked."""
    pair = service.issue("alice")

    race = race_threads(service, pair.refresh_token)

    assert race.outcomes[token_workers.REFRESHED] == 1
    with pytest.raises(TokenRevoked):
        service.verify(race.winner_access_token)
    with pytest.raises(TokenRevoked):
        service.refresh(race.winner_refresh_token)


def test_refresh_process_race_one_winner(
    service: TokenService, ring: KeyRing, redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    """Of refresh() calls with one token from several processes, exactly one succeeds."""
    pair = service.issue("alice")

    race = race_processes(ring, redis_url, redis_store, pair.refresh_token, tmp_path)

    assert race.outcomes[token_workers.REFRESHED] == 1
    assert race.outcomes["RefreshTokenReused"] == PROCESSES * CALLS_PER_PROCESS - 1


def test_process_race_later_reuse_rejected(
    service: TokenService, ring: KeyRing, redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    """After the process race, another use of the raced token raises RefreshTokenReused."""
    pair = service.issue("alice")
    race_processes(ring, redis_url, redis_store, pair.refresh_token, tmp_path)

    with pytest.raises(RefreshTokenReused) as caught:
        service.refresh(pair.refresh_token)

    assert caught.value.family_id == pair.family_id


def test_process_race_winner_revoked(
    service: TokenService, ring: KeyRing, redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    """After the process race, the tokens the winning process received are revoked."""
    pair = service.issue("alice")

    race = race_processes(ring, redis_url, redis_store, pair.refresh_token, tmp_path)

    assert race.outcomes[token_workers.REFRESHED] == 1
    with pytest.raises(TokenRevoked):
        service.verify(race.winner_access_token)
    with pytest.raises(TokenRevoked):
        service.refresh(race.winner_refresh_token)


# Revocation shared through Redis.


@pytest.mark.parametrize("scope", ["token", "family", "subject"])
def test_revocation_survives_new_service(
    service: TokenService, redis_url: str, redis_store: RedisStore, tmp_path: Path, scope: str
) -> None:
    """A revocation made by one TokenService is seen by a new one on a new RedisStore."""
    pair = service.issue("alice")
    if scope == "token":
        service.revoke(pair.access_token)
    elif scope == "family":
        service.revoke(pair.refresh_token)
    else:
        service.revoke_subject("alice")
    key_file = tmp_path / "keys.json"
    service.keys.save(key_file)

    with closing(RedisStore.from_url(redis_url, prefix=prefix_of(redis_store))) as store:
        other = TokenService(KeyRing.load(key_file), store, issuer=ISSUER, audience=AUDIENCE)
        with pytest.raises(TokenRevoked) as caught:
            other.verify(pair.access_token)

    assert caught.value.scope == scope


def test_used_refresh_token_shared(
    service: TokenService, ring: KeyRing, redis_url: str, redis_store: RedisStore
) -> None:
    """A refresh token exchanged through one TokenService is a reuse for a new one."""
    pair = service.issue("alice")
    service.refresh(pair.refresh_token)

    with closing(RedisStore.from_url(redis_url, prefix=prefix_of(redis_store))) as store:
        other = TokenService(ring, store, issuer=ISSUER, audience=AUDIENCE)
        with pytest.raises(RefreshTokenReused):
            other.refresh(pair.refresh_token)


def test_other_prefix_does_not_share_revocation(
    service: TokenService, ring: KeyRing, redis_url: str, redis_store: RedisStore
) -> None:
    """A service on another key prefix does not see the revocation."""
    pair = service.issue("alice")
    service.revoke(pair.access_token)

    with closing(RedisStore.from_url(redis_url, prefix=prefix_of(redis_store) + "other:")) as store:
        other = TokenService(ring, store, issuer=ISSUER, audience=AUDIENCE)
        claims = other.verify(pair.access_token)

    assert claims.subject == "alice"


# A stopped server.


def test_verify_fails_redis_stopped(
    server_service: TokenService, redis_server: StoppableServer
) -> None:
    """verify() raises StoreUnavailable, never returning claims, once Redis has stopped."""
    pair = server_service.issue("alice")
    server_service.verify(pair.access_token)

    redis_server.stop()

    with pytest.raises(StoreUnavailable) as caught:
        server_service.verify(pair.access_token)
    assert caught.value.operation == "get_many"


def test_verify_refresh_token_redis_stopped(
    server_service: TokenService, redis_server: StoppableServer
) -> None:
    """verify() of a refresh token raises StoreUnavailable once Redis has stopped."""
    pair = server_service.issue("alice")

    redis_server.stop()

    with pytest.raises(StoreUnavailable):
        server_service.verify(pair.refresh_token, kind=TokenKind.REFRESH)


def test_refresh_fails_redis_stopped(
    server_service: TokenService, redis_server: StoppableServer
) -> None:
    """refresh() raises StoreUnavailable, never returning a pair, once Redis has stopped."""
    pair = server_service.issue("alice")

    redis_server.stop()

    with pytest.raises(StoreUnavailable):
        server_service.refresh(pair.refresh_token)


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_revoke_fails_redis_stopped(
    server_service: TokenService, redis_server: StoppableServer, kind: str
) -> None:
    """revoke() raises StoreUnavailable instead of returning as if it had revoked."""
    pair = server_service.issue("alice")

    redis_server.stop()

    with pytest.raises(StoreUnavailable) as caught:
        server_service.revoke(pair.access_token if kind == "access" else pair.refresh_token)
    assert caught.value.operation == "set"


def test_revoke_subject_redis_stopped(
    server_service: TokenService, redis_server: StoppableServer
) -> None:
    """revoke_subject() raises StoreUnavailable once Redis has stopped."""
    redis_server.stop()

    with pytest.raises(StoreUnavailable):
        server_service.revoke_subject("alice")


# Cost of a verification.


def test_verify_one_mget_per_call(
    server_service: TokenService, redis_server: StoppableServer
) -> None:
    """Each verify() sends exactly one command to Redis, and it is MGET."""
    pair = server_service.issue("alice")
    # The first call opens the connection, which sends set-up commands.
    server_service.verify(pair.access_token)
    with closing(redis.Redis.from_url(redis_server.url, socket_timeout=1.0)) as observer:
        observer.ping()
        total_before, calls_before = command_counts(observer)

        for _ in range(VERIFICATIONS):
            server_service.verify(pair.access_token)
        total_after, calls_after = command_counts(observer)

    info_calls = calls_after["info"] - calls_before["info"]
    calls_after.subtract(calls_before)
    commands = +calls_after
    del commands["info"]
    assert total_after - total_before - info_calls == VERIFICATIONS
    assert commands == Counter({"mget": VERIFICATIONS})
