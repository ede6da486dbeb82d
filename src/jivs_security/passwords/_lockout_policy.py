"""Lockout thresholds and delays: :class:`LockoutPolicy` and the delay schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from jivs_security.errors import ConfigurationError

__all__ = ["DEFAULT_LOCKOUT_POLICY", "SCOPES", "LockoutPolicy", "lock_delay"]

# Scope names, in the order the scripts receive their keys. A trusted attempt
# passes only the first key.
SCOPES: Final = ("account", "account_ip", "ip")


# A counter whose delay has doubled this often is at max_delay whatever the
# settings, because base_delay is at least 1 ms and max_delay at most a year.
_MAX_DOUBLINGS: Final = 63


def lock_delay(failures: int, threshold: int, base_delay: float, max_delay: float) -> float:
    """Return the seconds a counter with ``failures`` stays locked after its last failure."""
    if failures < threshold:
        return 0.0
    doublings = failures - threshold
    if doublings >= _MAX_DOUBLINGS:
        return max_delay
    return min(base_delay * 2.0**doublings, max_delay)


def _require_int(name: str, value: object, low: int, high: int, *, source: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be a whole number from {low} to {high}{source}, got {value!r}",
            setting=name,
            expected=f"an int from {low} to {high}",
            value=value,
        )


def _require_seconds(name: str, value: object, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigurationError(
            f"{name} must be a number of seconds from {low:g} to {high:.0f}, got {value!r}",
            setting=name,
            expected=f"seconds from {low:g} to {high:.0f}",
            value=value,
        )


@dataclass(frozen=True)
class LockoutPolicy:
    """Thresholds and delays of a :class:`LockoutGuard`; times are in seconds.

    Each counter stores a number of failures and the time of the last one. A
    counter with ``n`` failures, the last at ``last``, is *locked* while
    ``now < last + delay(n)``, where ``delay(n)`` is 0 below the counter's
    threshold and ``base_delay * 2 ** (n - threshold)``, capped at
    ``max_delay``, from the threshold on. With the defaults, an account gets
    5 free attempts, then waits 30 s, 60 s, 120 s and so on up to 1 hour
    between further attempts.

    The account counter is also locked once it reaches ``max_failures``,
    until ``failure_window`` seconds after its last failure or until
    :meth:`LockoutGuard.reset`. NIST SP 800-63B-4, section 3.2.2, requires a
    verifier to limit consecutive failed attempts on one account to at most
    100, so ``max_failures`` cannot exceed 100. Every counter is forgotten
    ``failure_window`` seconds after its last failure, so no lockout is
    permanent.

    ``account_ip_threshold`` applies to one account from one network. A
    success resets only the counter of the network it came from, so an
    attacker elsewhere stays slowed after the owner signs in. Setting
    ``account_threshold`` above ``account_ip_threshold`` makes it harder
    for an attacker to lock the owner out from other networks.
    ``ip_threshold`` counts failures from one network across all accounts,
    which slows password spraying; it is high because many users may share
    one address behind NAT. IPv6 addresses are counted by their
    ``ipv6_prefix``-bit network, because one subscriber usually holds a
    whole /64 and could otherwise change address at every attempt.

    Only the cap of 100 comes from a standard. The thresholds, delays and
    window are this library's defaults, chosen so that a user who mistypes
    a few times never waits and a guesser gets about 24 guesses a day per
    account once the delay reaches an hour.
    """

    account_threshold: int = 5
    account_ip_threshold: int = 5
    ip_threshold: int = 100
    base_delay: float = 30.0
    max_delay: float = 3600.0
    max_failures: int = 100
    failure_window: float = 24 * 3600.0
    ipv6_prefix: int = 64

    def __post_init__(self) -> None:
        for name in ("account_threshold", "account_ip_threshold", "ip_threshold"):
            _require_int(name, getattr(self, name), 1, 1_000_000)
        nist = " (NIST SP 800-63B-4, section 3.2.2)"
        _require_int("max_failures", self.max_failures, 1, 100, source=nist)
        if self.account_threshold > self.max_failures:
            raise ConfigurationError(
                f"account_threshold ({self.account_threshold}) is above max_failures "
                f"({self.max_failures}), so delays would never apply; lower account_threshold",
                setting="account_threshold",
                expected=f"at most max_failures ({self.max_failures})",
                value=self.account_threshold,
            )
        _require_seconds("base_delay", self.base_delay, 0.001, 365 * 24 * 3600.0)
        _require_seconds("max_delay", self.max_delay, self.base_delay, 365 * 24 * 3600.0)
        # A counter must outlive its longest delay, or it would expire while
        # the delay still applies and the delay would be cut short.
        _require_seconds("failure_window", self.failure_window, self.max_delay, 365 * 24 * 3600.0)
        _require_int("ipv6_prefix", self.ipv6_prefix, 16, 128)

    def threshold(self, scope: str) -> int:
        """Return the free failures of ``scope``: ``"account"``, ``"account_ip"`` or ``"ip"``."""
        if scope not in SCOPES:
            raise ConfigurationError(
                f"unknown lockout scope {scope!r}; use one of {', '.join(SCOPES)}",
                setting="scope",
                expected=" or ".join(SCOPES),
                value=scope,
            )
        thresholds = (self.account_threshold, self.account_ip_threshold, self.ip_threshold)
        return thresholds[SCOPES.index(scope)]

    def delay(self, failures: int, scope: str = "account") -> float:
        """Return the seconds a counter of ``scope`` stays locked after its last failure.

        For the account scope at ``max_failures`` or more, this is
        ``failure_window``: the counter stays locked until it expires.
        """
        if scope == "account" and failures >= self.max_failures:
            return self.failure_window
        return lock_delay(failures, self.threshold(scope), self.base_delay, self.max_delay)


DEFAULT_LOCKOUT_POLICY: Final = LockoutPolicy()
