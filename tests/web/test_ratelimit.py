"""RateLimiter: sliding-window decisions, header fields, Redis storage and the outage policy."""

from __future__ import annotations

import logging
import math
import os
import re
import signal
from collections.abc import Iterator
from uuid import uuid4

import limits
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from limits.storage import MemoryStorage

from jivs_security.errors import ConfigurationError, RateLimited, StoreUnavailable
from jivs_security.web import RateLimitDecision, RateLimiter, StorageOutagePolicy
from jivs_security.web._ratelimit import _OutageLog
from jivs_security.web._ratelimit_window import WindowState
from servers import RedisServer

# A day-long window keeps the memory storage's wall-clock windows from
# turning over during a test.
PER_DAY = "3/day"
DAY = 86_400
PASSWORD = "s3cret-redis-password"

# The draft-ietf-httpapi-ratelimit-headers-11 field shapes this module emits.
POLICY_FIELD = re.compile(r'"[A-Za-z0-9_.-]+";q=\d+;w=\d+')
LIMIT_FIELD = re.compile(r'"[A-Za-z0-9_.-]+";r=\d+;t=\d+')


@pytest.fixture
def limiter() -> Iterator[RateLimiter]:
    """A limiter of 3 requests a day in memory."""
    limiter = RateLimiter(PER_DAY, name="api")

    yield limiter

    limiter.close()


@pytest.fixture
def redis_limiter(redis_url: str) -> Iterator[RateLimiter]:
    """A limiter of 3 requests a day on the session's Redis, under a prefix of its own."""
    prefix = f"test-ratelimit-{uuid4().hex}"
    limiter = RateLimiter(PER_DAY, name="api", storage=redis_url, key_prefix=prefix)

    yield limiter

    limiter.close()
    client = redis.Redis.from_url(redis_url)
    leftover = list(client.scan_iter(match=f"{prefix}:*"))
    if leftover:
        client.delete(*leftover)
    client.close()


def weighted_at(state: WindowState, elapsed: float) -> int:
    """Return limits' weighted count ``elapsed`` seconds later, with no new hits."""
    window = state.window
    window_end = state.current_ttl - window if state.current_count else state.previous_ttl
    if elapsed < window_end:
        remaining = state.previous_ttl - elapsed
        return math.floor(state.previous_count * remaining / window) + state.current_count
    if elapsed < window_end + window:
        return math.floor(state.current_count * (window_end + window - elapsed) / window)
    return 0


@st.composite
def window_states(draw: st.DrawFn) -> tuple[WindowState, int, int]:
    """A consistent pair of counters, a limit and a cost that fits under the limit."""
    window = draw(st.integers(min_value=1, max_value=3600))
    limit = draw(st.integers(min_value=1, max_value=50))
    cost = draw(st.integers(min_value=1, max_value=limit))
    position = draw(st.floats(min_value=0.0, max_value=window, exclude_max=True))
    previous = draw(st.integers(min_value=0, max_value=limit))
    current = draw(st.integers(min_value=0, max_value=limit))
    window_end = window - position
    state = WindowState(
        previous_count=previous,
        previous_ttl=window_end if previous else 0.0,
        current_count=current,
        current_ttl=window_end + window if current else 0.0,
        window=window,
    )
    return state, limit, cost


def test_window_used_weights_previous() -> None:
    """Half a window left of 10 previous hits, plus 2 current hits, counts 7."""
    state = WindowState(10, 30.0, 2, 90.0, 60)

    assert state.used() == 7


def test_window_wait_within_current_window() -> None:
    """With the current window below the limit, the wait is until enough previous hits fade."""
    state = WindowState(10, 30.0, 2, 90.0, 60)

    # 10 * (30 - t) / 60 < 10 - 1 - 2 + 1 needs t > 30 - 8 * 6 = -18: it fits now.
    assert state.seconds_until_available(cost=1, limit=10) == 0.0
    # limit 5: 10 * (30 - t) / 60 < 5 - 1 - 2 + 1 = 3 needs t > 30 - 18 = 12.
    assert state.seconds_until_available(cost=1, limit=5) == pytest.approx(12.0)


def test_window_wait_past_current_window() -> None:
    """With the current window full, the wait runs past its end until its hits fade."""
    state = WindowState(0, 0.0, 3, 100.0, 60)

    # The window ends in 40 s; then 3 * (100 - t) / 60 < 3 needs t > 40.
    assert state.seconds_until_available(cost=1, limit=3) == pytest.approx(40.0)


def test_window_reset_time() -> None:
    """The whole quota is back when the current window's hits stop counting."""
    assert WindowState(4, 20.0, 1, 80.0, 60).seconds_until_reset() == 80.0
    assert WindowState(4, 20.0, 0, 0.0, 60).seconds_until_reset() == 20.0
    assert WindowState(0, 0.0, 0, 0.0, 60).seconds_until_reset() == 0.0


@given(window_states())
def test_window_wait_is_exact(case: tuple[WindowState, int, int]) -> None:
    """The request fits just after the computed wait and not just before it."""
    state, limit, cost = case

    wait = state.seconds_until_available(cost, limit)

    assert weighted_at(state, wait + 1e-6) + cost <= limit
    if wait > 1e-6:
        assert weighted_at(state, wait - 1e-6) + cost > limit


def test_hits_allowed_up_to_limit(limiter: RateLimiter) -> None:
    """The first three requests pass with falling remaining quota."""
    decisions = [limiter.hit("client-1") for _ in range(3)]

    assert [decision.allowed for decision in decisions] == [True, True, True]
    assert [decision.remaining for decision in decisions] == [2, 1, 0]


def test_hit_over_limit_denied(limiter: RateLimiter) -> None:
    """The fourth request is denied with 429 and a Retry-After."""
    for _ in range(3):
        limiter.hit("client-1")

    decision = limiter.hit("client-1")

    assert not decision.allowed
    assert decision.status_code == 429
    assert decision.retry_after is not None
    assert 1 <= decision.retry_after <= 2 * DAY


def test_denied_hit_consumes_nothing(limiter: RateLimiter) -> None:
    """A denied request leaves the count where it was."""
    for _ in range(4):
        limiter.hit("client-1")

    assert limiter.peek("client-1").remaining == 0
    assert limiter.peek("client-1", cost=1).allowed is False


def test_keys_are_independent(limiter: RateLimiter) -> None:
    """One key's requests do not count against another key."""
    for _ in range(3):
        limiter.hit("client-1")

    assert limiter.hit("client-2").allowed


def test_cost_consumes_units(limiter: RateLimiter) -> None:
    """A request of cost 2 uses two units, and one of cost 2 more is denied."""
    first = limiter.hit("client-1", cost=2)
    second = limiter.hit("client-1", cost=2)

    assert first.remaining == 1
    assert not second.allowed


def test_peek_consumes_nothing(limiter: RateLimiter) -> None:
    """peek reports without counting."""
    limiter.peek("client-1")
    limiter.peek("client-1")

    assert limiter.hit("client-1").remaining == 2


def test_reset_forgets_key(limiter: RateLimiter) -> None:
    """After reset the key has its whole quota again."""
    for _ in range(3):
        limiter.hit("client-1")

    limiter.reset("client-1")

    assert limiter.hit("client-1").remaining == 2


def test_allowed_headers_follow_draft(limiter: RateLimiter) -> None:
    """An allowed decision carries RateLimit-Policy and RateLimit, and no Retry-After."""
    fields = limiter.hit("client-1").headers

    assert fields["RateLimit-Policy"] == '"api";q=3;w=86400'
    assert LIMIT_FIELD.fullmatch(fields["RateLimit"])
    assert fields["RateLimit"].startswith('"api";r=2;t=')
    assert "Retry-After" not in fields


def test_denied_headers_match_retry_after(limiter: RateLimiter) -> None:
    """A denial's effective window equals Retry-After, with no quota left."""
    for _ in range(3):
        limiter.hit("client-1")

    decision = limiter.hit("client-1")

    assert decision.headers["Retry-After"] == str(decision.retry_after)
    assert decision.headers["RateLimit"] == f'"api";r=0;t={decision.retry_after}'
    assert POLICY_FIELD.fullmatch(decision.headers["RateLimit-Policy"])


def test_enforce_raises_when_denied(limiter: RateLimiter) -> None:
    """enforce raises RateLimited with the fields a 429 response needs."""
    for _ in range(3):
        limiter.enforce("client-1")

    with pytest.raises(RateLimited) as caught:
        limiter.enforce("client-1")

    error = caught.value
    assert error.reason == "limit_exceeded"
    assert error.status_code == 429
    assert error.policy == "api"
    assert error.headers["Retry-After"] == str(error.retry_after)
    assert "client-1" not in str(error)


def test_enforce_returns_allowed_decision(limiter: RateLimiter) -> None:
    """enforce returns the decision when the request passes."""
    decision = limiter.enforce("client-1")

    assert isinstance(decision, RateLimitDecision)
    assert decision.allowed


def test_limit_notation_parsed() -> None:
    """The limits notation and a RateLimitItem give the same quota and window."""
    from_text = RateLimiter("10 per 2 minutes")
    from_item = RateLimiter(limits.RateLimitItemPerMinute(10, 2))

    assert (from_text.limit, from_text.window) == (10, 120)
    assert (from_item.limit, from_item.window) == (10, 120)


@pytest.mark.parametrize("limit", ["ten per minute", "10/minute;100/hour", "0/minute", ""])
def test_rejects_bad_limit(limit: str) -> None:
    """A limit that is not exactly one positive quota is refused."""
    with pytest.raises(ConfigurationError) as caught:
        RateLimiter(limit)

    assert caught.value.setting == "limit"


@pytest.mark.parametrize("name", ["", "has space", "a/b", '"quoted"', "x" * 65])
def test_rejects_bad_name(name: str) -> None:
    """Policy names must fit the header fields."""
    with pytest.raises(ConfigurationError) as caught:
        RateLimiter(PER_DAY, name=name)

    assert caught.value.setting == "name"


@pytest.mark.parametrize("key", ["", "k" * 513])
def test_rejects_bad_key(limiter: RateLimiter, key: str) -> None:
    """Empty and oversized keys are refused without echoing the key."""
    with pytest.raises(ConfigurationError) as caught:
        limiter.hit(key)

    assert caught.value.setting == "key"
    assert "k" * 20 not in str(caught.value)


def test_rejects_non_string_key(limiter: RateLimiter) -> None:
    """A key that is not a str is refused."""
    with pytest.raises(ConfigurationError, match="non-empty str"):
        limiter.hit(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [0, 4, True, 1.0])
def test_rejects_bad_cost(limiter: RateLimiter, cost: object) -> None:
    """cost is a whole number from 1 to the limit."""
    with pytest.raises(ConfigurationError) as caught:
        limiter.hit("client-1", cost=cost)  # type: ignore[arg-type]

    assert caught.value.setting == "cost"


def test_rejects_outage_policy_string() -> None:
    """The outage policy is an enum member, so a typo cannot slip through."""
    with pytest.raises(ConfigurationError) as caught:
        RateLimiter(PER_DAY, on_storage_error="fail_open")  # type: ignore[arg-type]

    assert caught.value.setting == "on_storage_error"


def test_rejects_options_with_storage_object() -> None:
    """Redis options cannot be given for a storage object built elsewhere."""
    with pytest.raises(ConfigurationError) as caught:
        RateLimiter(PER_DAY, storage=MemoryStorage(), key_prefix="x")

    assert caught.value.setting == "key_prefix"


def test_storage_object_accepted() -> None:
    """A limits storage object is used as given."""
    limiter = RateLimiter(PER_DAY, storage=MemoryStorage())

    assert limiter.hit("client-1").allowed


def test_unknown_scheme_hides_password() -> None:
    """An unknown storage scheme is refused without echoing the URL's password."""
    with pytest.raises(ConfigurationError) as caught:
        RateLimiter(PER_DAY, storage=f"nosuch://user:{PASSWORD}@127.0.0.1:1/0")

    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value.value)


def test_repr_hides_password(redis_server: RedisServer) -> None:
    """The repr of a Redis limiter shows the address only."""
    url = f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    limiter = RateLimiter(PER_DAY, storage=url)

    text = repr(limiter)

    assert PASSWORD not in text
    assert f"127.0.0.1:{redis_server.port}" in text
    limiter.close()


def test_redis_allows_then_denies(redis_limiter: RateLimiter) -> None:
    """On Redis the fourth request of three allowed is denied."""
    decisions = [redis_limiter.hit("client-1") for _ in range(4)]

    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after is not None
    assert not decisions[-1].outage


def test_redis_counts_shared_between_limiters(redis_url: str) -> None:
    """Two limiters on one Redis prefix share counts, as two processes would."""
    prefix = f"test-ratelimit-{uuid4().hex}"
    first = RateLimiter(PER_DAY, storage=redis_url, key_prefix=prefix)
    second = RateLimiter(PER_DAY, storage=redis_url, key_prefix=prefix)

    first.hit("client-1")
    first.hit("client-1")
    decision = second.hit("client-1")

    assert decision.remaining == 0
    first.reset("client-1")
    first.close()
    second.close()


def test_redis_keys_use_prefix(redis_limiter: RateLimiter, redis_url: str) -> None:
    """Every Redis key the limiter writes starts with its prefix."""
    redis_limiter.hit("client-1")
    prefix = redis_limiter._storage.key_prefix  # type: ignore[attr-defined]
    client = redis.Redis.from_url(redis_url)

    keys = [key.decode() for key in client.scan_iter(match=f"{prefix}:*")]

    assert keys
    assert all(key.startswith(f"{prefix}:") for key in keys)
    client.close()


def test_redis_reset_forgets_key(redis_limiter: RateLimiter) -> None:
    """reset on Redis gives the key its whole quota back."""
    for _ in range(3):
        redis_limiter.hit("client-1")

    redis_limiter.reset("client-1")

    assert redis_limiter.hit("client-1").remaining == 2


def test_stopped_redis_fails_closed(redis_server: RedisServer) -> None:
    """With Redis down, the default policy denies with 503 and a short Retry-After."""
    limiter = RateLimiter(PER_DAY, storage=redis_server.url, outage_retry_after=7)
    assert limiter.hit("client-1").allowed
    redis_server.stop()

    decision = limiter.hit("client-1")

    assert not decision.allowed
    assert decision.outage
    assert decision.status_code == 503
    assert decision.headers == {
        "RateLimit-Policy": '"default";q=3;w=86400',
        "RateLimit": '"default";r=0;t=7',
        "Retry-After": "7",
    }
    limiter.close()


def test_stopped_redis_fails_open(redis_server: RedisServer) -> None:
    """With FAIL_OPEN, requests pass while Redis is down, without a RateLimit field."""
    limiter = RateLimiter(
        PER_DAY, storage=redis_server.url, on_storage_error=StorageOutagePolicy.FAIL_OPEN
    )
    redis_server.stop()

    decision = limiter.hit("client-1")

    assert decision.allowed
    assert decision.outage
    assert decision.remaining is None
    assert decision.headers == {"RateLimit-Policy": '"default";q=3;w=86400'}
    limiter.close()


def test_stopped_redis_enforce_raises(redis_server: RedisServer) -> None:
    """enforce under a fail-closed outage raises RateLimited with status 503."""
    limiter = RateLimiter(PER_DAY, storage=redis_server.url)
    redis_server.stop()

    with pytest.raises(RateLimited) as caught:
        limiter.enforce("client-1")

    assert caught.value.reason == "storage_unavailable"
    assert caught.value.status_code == 503
    limiter.close()


def test_stopped_redis_reset_raises(redis_server: RedisServer) -> None:
    """reset cannot succeed without the store, so it raises StoreUnavailable."""
    limiter = RateLimiter(PER_DAY, storage=redis_server.url)
    redis_server.stop()

    with pytest.raises(StoreUnavailable) as caught:
        limiter.reset("client-1")

    assert caught.value.operation == "reset"
    limiter.close()


def test_stalled_redis_fails_closed(redis_server: RedisServer) -> None:
    """A Redis that accepts but never responds hits the socket timeout and fails closed."""
    limiter = RateLimiter(
        PER_DAY, storage=redis_server.url, socket_timeout=0.2, connect_timeout=0.2
    )
    assert limiter.hit("client-1").allowed
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        decision = limiter.hit("client-1")
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)

    assert decision.outage
    assert not decision.allowed
    limiter.close()


def test_outage_logged_once(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """A continuing outage gives one warning, naming the policy and not the key or password."""
    url = redis_server.url.replace("redis://", f"redis://:{PASSWORD}@")
    limiter = RateLimiter(PER_DAY, name="login", storage=url)
    redis_server.stop()
    caplog.set_level(logging.INFO, logger="jivs_security.web")

    for _ in range(5):
        limiter.hit("203.0.113.9")

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "login" in warnings[0].getMessage()
    assert "denied" in warnings[0].getMessage()
    assert "203.0.113.9" not in caplog.text
    assert PASSWORD not in caplog.text
    limiter.close()


def test_recovery_logged(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """When Redis is back, one INFO line reports the recovery and requests pass."""
    limiter = RateLimiter(PER_DAY, name="login", storage=redis_server.url)
    redis_server.stop()
    limiter.hit("client-1")
    limiter.hit("client-1")
    redis_server.start()
    caplog.set_level(logging.INFO, logger="jivs_security.web")
    caplog.clear()

    decision = limiter.hit("client-1")

    assert decision.allowed
    assert not decision.outage
    assert [record.getMessage() for record in caplog.records] == [
        "rate limit store for policy login is reachable again after 2 failed calls"
    ]
    limiter.close()


def test_outage_log_repeats_after_interval(caplog: pytest.LogCaptureFixture) -> None:
    """After the log interval, the next failure logs again with the count of quiet ones."""
    now = [0.0]
    log = _OutageLog("api", clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="jivs_security.web")
    error = ConnectionError("refused")

    log.failed(error, "denied")
    log.failed(error, "denied")
    log.failed(error, "denied")
    now[0] = 61.0
    log.failed(error, "denied")

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[1].endswith("; 2 failures since the last warning")
