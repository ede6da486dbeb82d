"""The key-value store protocol that revocation, lockout and rate limiting share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from jivs_security.errors import ConfigurationError
from jivs_security.stores._script import AtomicScript

__all__ = ["KeyValueStore", "validate_ttl"]


@runtime_checkable
class KeyValueStore(Protocol):
    """A byte-valued store with per-key expiry and the atomic steps the library needs.

    Implementations must make :meth:`set_if_absent` and :meth:`increment`
    atomic across every client of the same store (threads, processes and
    hosts), because refresh-token rotation and lockout counting rely on it.
    TTLs are in seconds and may be fractional. A store that cannot be reached
    raises :class:`~jivs_security.errors.StoreUnavailable`; no call may block
    without a time limit.
    """

    def get(self, key: str) -> bytes | None:
        """Return the value stored at ``key``, or ``None`` when it is absent or expired."""
        ...

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order, in one round trip where the backend allows."""
        ...

    def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` at ``key``, replacing any value; ``ttl=None`` keeps it until deleted."""
        ...

    def set_if_absent(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether this call stored it."""
        ...

    def increment(self, key: str, amount: int = 1, *, ttl: float) -> int:
        """Add ``amount`` to the integer at ``key`` and return the new value.

        A missing key counts as 0. When the key has no expiry after the
        addition (it was just created), ``ttl`` is applied in the same atomic
        step, so a counter can never be left without one.
        """
        ...

    def ttl(self, key: str) -> float | None:
        """Return the seconds until ``key`` expires; ``None`` if it is absent or has no expiry."""
        ...

    def delete(self, *keys: str) -> int:
        """Delete ``keys`` and return how many existed."""
        ...

    def run_script(
        self, script: AtomicScript, keys: Sequence[str], args: Sequence[str | int | float]
    ) -> Any:
        """Run ``script`` over ``keys`` as one atomic step and return its result.

        Numbers in ``args`` reach the script as strings, as Redis passes them.
        """
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


def validate_ttl(ttl: float, *, setting: str = "ttl") -> float:
    """Return ``ttl`` if it is a finite number of seconds above zero, else raise."""
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int | float)
        or not math.isfinite(ttl)
        or ttl <= 0
    ):
        raise ConfigurationError(
            f"{setting} must be a finite number of seconds above 0, got {ttl!r}",
            setting=setting,
            expected="a finite number of seconds above 0",
            value=ttl,
        )
    return float(ttl)
