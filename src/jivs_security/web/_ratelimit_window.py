"""The outcome of a rate-limit check and the sliding-window arithmetic behind it.

Header fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026),
which defines ``RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>``
and ``RateLimit: "<name>";r=<remaining quota>;t=<seconds>``, plus
``Retry-After`` in whole seconds (RFC 9110, section 10.2.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RateLimitDecision", "WindowState"]


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of one :meth:`RateLimiter.hit`, with the header fields to send.

    ``remaining`` is the quota left, and ``reset_after`` the whole seconds
    until the whole quota is back if no further request arrives. Both are
    ``None`` when the store failed (``outage`` is true). ``retry_after`` is
    set only on a denial: the whole seconds until a request of the same cost
    would pass.
    """

    allowed: bool
    policy: str
    limit: int
    window: int
    remaining: int | None
    reset_after: int | None
    retry_after: int | None
    outage: bool = False

    @property
    def status_code(self) -> int | None:
        """``None`` when allowed, else 429 (RFC 6585, section 4) or 503 on a store outage."""
        if self.allowed:
            return None
        return 503 if self.outage else 429

    @property
    def headers(self) -> dict[str, str]:
        """``RateLimit-Policy``, ``RateLimit`` and, on a denial, ``Retry-After``.

        On a denial the ``t`` parameter equals ``Retry-After``, because the
        draft says that Retry-After SHOULD NOT point earlier than the end of
        the effective window. ``RateLimit`` is left out when the store failed
        and the remaining quota is unknown.
        """
        fields = {"RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window}'}
        if self.retry_after is not None:
            fields["RateLimit"] = f'"{self.policy}";r=0;t={self.retry_after}'
            fields["Retry-After"] = str(self.retry_after)
        elif self.remaining is not None:
            fields["RateLimit"] = f'"{self.policy}";r={self.remaining};t={self.reset_after}'
        return fields


@dataclass(frozen=True, slots=True)
class WindowState:
    """The two counters of a sliding window and their remaining lives, in seconds.

    ``previous_ttl`` is the time until the current fixed window ends, when
    the previous window stops counting. ``current_ttl`` is the time until
    the current window's hits stop counting, one window length later. Both
    are 0 for a counter that does not exist.
    """

    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float
    window: int

    def used(self) -> int:
        """Return the weighted hit count that limits compares with the quota."""
        weighted = self.previous_count * self.previous_ttl / self.window
        return math.floor(weighted) + self.current_count

    def seconds_until_available(self, cost: int, limit: int) -> float:
        """Return the seconds until ``cost`` more units fit under ``limit``, 0 if they fit now.

        A request fits while ``used() + cost <= limit``. The previous
        window's weight falls linearly to 0 when the current window ends.
        Then the current count becomes the previous one and falls the same
        way over one more window.
        """
        budget = limit - cost
        if self.current_count <= budget:
            if self.previous_count == 0:
                return 0.0
            # previous * (previous_ttl - t) / window < budget - current + 1
            allowance = (budget - self.current_count + 1) * self.window / self.previous_count
            return max(0.0, self.previous_ttl - allowance)
        window_end = max(0.0, self.current_ttl - self.window)
        # After the window ends: current * (window_end + window - t) / window < budget + 1
        allowance = (budget + 1) * self.window / self.current_count
        return max(window_end, window_end + self.window - allowance)

    def seconds_until_reset(self) -> float:
        """Return the seconds until no hit of either window counts any more."""
        if self.current_count:
            return self.current_ttl
        if self.previous_count:
            return self.previous_ttl
        return 0.0
