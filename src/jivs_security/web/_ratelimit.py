"""Rate limiting on the limits library with the sliding window counter, in memory or Redis.

The sliding window counter keeps two counters per key: the current fixed
window and the previous one. A request counts the previous window's hits,
weighted by the share of that window still inside the sliding window, plus
the current window's hits. So a burst at a window boundary cannot pass
twice the quota, as it can with fixed windows (limits 5.8,
``SlidingWindowCounterRateLimiter``). The counting and the atomic Redis scripts are
limits' own. This module adds the decision, the response header fields
and the policy for a store that cannot be reached.

The decision and its header fields are in ``_ratelimit_window``, the
storage set-up in ``_ratelimit_storage``.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

from jivs_security.errors import RateLimited, StoreUnavailable
from jivs_security.web._ratelimit_storage import (
    bad_setting,
    open_storage,
    parse_limit,
    require_limits,
)
from jivs_security.web._ratelimit_window import RateLimitDecision, WindowState

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.storage import Storage
    from limits.strategies import SlidingWindowCounterRateLimiter

__all__ = ["RateLimitDecision", "RateLimiter", "StorageOutagePolicy"]

logger = logging.getLogger("jivs_security.web")

# Seconds that a fail-closed limiter sends as Retry-After while its store
# is down. Short, because the outage is not the client's doing and the
# store may respond again within seconds.
DEFAULT_OUTAGE_RETRY_AFTER: Final = 5

# Seconds between two warnings about the same continuing outage.
_OUTAGE_LOG_INTERVAL: Final = 60.0

# Characters. Keys are usually an IP address, a user id or a route with one
# of those. The cap keeps a client-chosen key from filling the store.
MAX_KEY_LENGTH: Final = 512

# The policy name is a Structured Field String in the header fields. This
# subset also keeps it free of the '/' that limits uses to join key parts.
_POLICY_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class StorageOutagePolicy(enum.Enum):
    """What a limiter decides when its store fails or does not respond in time."""

    #: Deny the request with 503 and a short Retry-After: nothing passes
    #: unchecked, at the cost of an outage for every client.
    FAIL_CLOSED = "fail_closed"
    #: Allow the request: the service stays up, unprotected until the store is back.
    FAIL_OPEN = "fail_open"


class _OutageLog:
    """Logs a store outage when it starts, at most once a minute while it lasts, and its end."""

    def __init__(self, policy: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._unlogged = 0
        self._last_logged = -math.inf

    def failed(self, error: BaseException, outcome: str) -> None:
        with self._lock:
            self._failures += 1
            now = self._clock()
            if now - self._last_logged < _OUTAGE_LOG_INTERVAL:
                self._unlogged += 1
                return
            repeats, self._unlogged, self._last_logged = self._unlogged, 0, now
        cause = getattr(error, "storage_error", error)
        unlogged = f"; {repeats} failures since the last warning" if repeats else ""
        logger.warning(
            "rate limit store failed for policy %s (%s: %.200s); requests are %s until it "
            "is reachable again%s",
            self._policy,
            type(cause).__name__,
            cause,
            outcome,
            unlogged,
        )

    def succeeded(self) -> None:
        if not self._failures:
            return
        with self._lock:
            failures, self._failures, self._unlogged = self._failures, 0, 0
            self._last_logged = -math.inf
        if failures:
            logger.info(
                "rate limit store for policy %s is reachable again after %d failed calls",
                self._policy,
                failures,
            )


class RateLimiter:
    """A sliding-window rate limit per key, such as a client address or a user id.

    ``limit`` is one limit in the limits notation (``"100/minute"``,
    ``"10 per second"``) or a ``limits.RateLimitItem``. ``storage`` is a
    limits storage URL (``"memory://"``, ``"redis://host:6379/0"``) or a
    limits ``Storage`` whose strategy support includes the sliding window
    counter. For a URL, ``key_prefix`` names this limiter's Redis keys and
    the socket timeouts bound each Redis call. ``name`` is the policy name
    in the header fields.

    When the store fails or times out, ``on_storage_error`` decides:
    :attr:`StorageOutagePolicy.FAIL_CLOSED` (the default) denies with 503
    and ``Retry-After: outage_retry_after``; ``FAIL_OPEN`` allows. Either
    way a warning is logged when the outage starts and at most once a
    minute while it lasts.

    With Redis, each :meth:`hit` takes two round trips: limits' atomic
    acquire script, then a read of both counters for the header fields.
    """

    def __init__(
        self,
        limit: str | RateLimitItem,
        *,
        storage: str | Storage = "memory://",
        name: str = "default",
        on_storage_error: StorageOutagePolicy = StorageOutagePolicy.FAIL_CLOSED,
        outage_retry_after: int = DEFAULT_OUTAGE_RETRY_AFTER,
        key_prefix: str | None = None,
        socket_timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        require_limits()
        from limits.errors import StorageError  # noqa: PLC0415  (an optional dependency)
        from limits.strategies import SlidingWindowCounterRateLimiter  # noqa: PLC0415

        if not isinstance(name, str) or not _POLICY_NAME.fullmatch(name):
            raise bad_setting("name", name, "1 to 64 letters, digits, '_', '.' or '-'")
        if not isinstance(on_storage_error, StorageOutagePolicy):
            raise bad_setting(
                "on_storage_error",
                on_storage_error,
                "StorageOutagePolicy.FAIL_CLOSED or StorageOutagePolicy.FAIL_OPEN",
            )
        if type(outage_retry_after) is not int or outage_retry_after < 1:
            raise bad_setting(
                "outage_retry_after", outage_retry_after, "a whole number of seconds >= 1"
            )

        self._item = parse_limit(limit)
        self._name = name
        self._on_storage_error = on_storage_error
        self._outage_retry_after = outage_retry_after
        self._storage, self._owns_storage, self._where = open_storage(
            storage,
            key_prefix=key_prefix,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
        )
        if not hasattr(self._storage, "get_sliding_window"):
            raise bad_setting(
                "storage",
                type(self._storage).__name__,
                "a limits storage with sliding window counter support (memory, Redis, "
                "Valkey or memcached)",
            )
        self._strategy: SlidingWindowCounterRateLimiter = SlidingWindowCounterRateLimiter(
            self._storage
        )
        # limits raises StorageError when wrap_exceptions is on, as it is for
        # storages built here. A storage passed in may raise its driver's
        # errors instead.
        base = self._storage.base_exceptions
        driver_errors = base if isinstance(base, tuple) else (base,)
        self._storage_errors: tuple[type[BaseException], ...] = (StorageError, *driver_errors)
        self._outage_log = _OutageLog(name)

    @property
    def name(self) -> str:
        """The policy name in the header fields."""
        return self._name

    @property
    def limit(self) -> int:
        """The quota per window."""
        return int(self._item.amount)

    @property
    def window(self) -> int:
        """The window length in seconds."""
        return int(self._item.get_expiry())

    def hit(self, key: str, *, cost: int = 1) -> RateLimitDecision:
        """Count a request of ``cost`` units against ``key`` and return the decision.

        A denied request consumes nothing. When the store fails, the
        decision follows ``on_storage_error`` and has ``outage`` set.
        """
        self._check_key(key)
        self._check_cost(cost)
        try:
            allowed = self._strategy.hit(self._item, self._name, key, cost=cost)
            # NOTE: the counters are read in a second step, so hits from other
            # processes in between shift remaining and Retry-After, though
            # never the decision, which limits makes atomically.
            state = self._read_window(key)
        except self._storage_errors as error:
            return self._outage_decision(error)
        self._outage_log.succeeded()
        decision = self._decide(allowed, state, cost)
        if not allowed:
            logger.debug(
                "rate limit %s denied a request; retry after %s s",
                self._name,
                decision.retry_after,
            )
        return decision

    def peek(self, key: str, *, cost: int = 1) -> RateLimitDecision:
        """Return the decision that :meth:`hit` would make now, without counting anything."""
        self._check_key(key)
        self._check_cost(cost)
        try:
            state = self._read_window(key)
        except self._storage_errors as error:
            return self._outage_decision(error)
        self._outage_log.succeeded()
        return self._decide(state.used() + cost <= self.limit, state, cost)

    def enforce(self, key: str, *, cost: int = 1) -> RateLimitDecision:
        """Count a request like :meth:`hit` and raise :class:`RateLimited` if it is denied.

        The error carries ``retry_after``, ``status_code`` and the header
        fields for the response; the allowed decision is returned otherwise.
        """
        decision = self.hit(key, cost=cost)
        if decision.allowed:
            return decision
        # Every denial has a retry_after; the fallback only satisfies the type.
        retry_after = 1 if decision.retry_after is None else decision.retry_after
        if decision.outage:
            reason = "storage_unavailable"
            message = (
                f"Request denied: the rate limit store for policy {self._name!r} is unavailable "
                f"and the limiter fails closed. Retry after {retry_after} s."
            )
        else:
            reason = "limit_exceeded"
            message = (
                f"Request denied: rate limit {self._name!r} of {self.limit} per "
                f"{self.window} s exceeded. Retry after {retry_after} s."
            )
        raise RateLimited(
            message,
            reason=reason,
            policy=self._name,
            retry_after=retry_after,
            status_code=503 if decision.outage else 429,
            headers=decision.headers,
        )

    def reset(self, key: str) -> None:
        """Forget every hit counted for ``key``.

        Raises :class:`~jivs_security.errors.StoreUnavailable` when the
        store fails, whatever the outage policy, because nothing was reset.
        """
        self._check_key(key)
        try:
            self._strategy.clear(self._item, self._name, key)
        except self._storage_errors as error:
            raise StoreUnavailable(
                f"the rate limit store did not reset the key for policy {self._name!r} "
                f"({type(getattr(error, 'storage_error', error)).__name__}); retry later",
                backend=type(self._storage).__name__,
                operation="reset",
            ) from error

    def close(self) -> None:
        """Release the store's connections if this limiter opened them."""
        if not self._owns_storage:
            return
        client = getattr(self._storage, "storage", None)
        close = getattr(client, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return (
            f"RateLimiter(name={self._name!r}, limit={self.limit}, window={self.window}, "
            f"storage={self._where!r}, on_storage_error={self._on_storage_error.value!r})"
        )

    def _read_window(self, key: str) -> WindowState:
        window = self.window
        counters = self._storage.get_sliding_window(  # type: ignore[attr-defined]
            self._item.key_for(self._name, key), window
        )
        previous_count, previous_ttl, current_count, current_ttl = cast(
            tuple[int, float, int, float], counters
        )
        return WindowState(previous_count, previous_ttl, current_count, current_ttl, window)

    def _decide(self, allowed: bool, state: WindowState, cost: int) -> RateLimitDecision:
        limit = self.limit
        reset_after = math.ceil(state.seconds_until_reset())
        retry_after = None
        if not allowed:
            # Whole seconds strictly after the moment the request fits; at
            # least 1, because a denied client must not retry at once.
            retry_after = math.floor(state.seconds_until_available(cost, limit)) + 1
        return RateLimitDecision(
            allowed=allowed,
            policy=self._name,
            limit=limit,
            window=self.window,
            remaining=max(0, limit - state.used()),
            reset_after=reset_after,
            retry_after=retry_after,
        )

    def _outage_decision(self, error: BaseException) -> RateLimitDecision:
        fail_open = self._on_storage_error is StorageOutagePolicy.FAIL_OPEN
        self._outage_log.failed(error, "allowed" if fail_open else "denied")
        return RateLimitDecision(
            allowed=fail_open,
            policy=self._name,
            limit=self.limit,
            window=self.window,
            remaining=None,
            reset_after=None,
            retry_after=None if fail_open else self._outage_retry_after,
            outage=True,
        )

    def _check_key(self, key: object) -> None:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            # The key itself is left out: it is often an IP address or a user id.
            raise bad_setting(
                "key",
                type(key).__name__ if not isinstance(key, str) else f"<{len(key)} characters>",
                f"a non-empty str of at most {MAX_KEY_LENGTH} characters",
            )

    def _check_cost(self, cost: object) -> None:
        if type(cost) is not int or not 1 <= cost <= self.limit:
            raise bad_setting("cost", cost, f"a whole number from 1 to the limit, {self.limit}")
