"""An in-process key-value store with real expiry, safe to share between threads."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from jivs_security.errors import StoreError
from jivs_security.stores._protocol import validate_ttl
from jivs_security.stores._script import AtomicScript

__all__ = ["MemoryStore"]

# Expired entries are removed when they are read, and by a full sweep after
# this many writes, so keys that are never read again do not pile up.
_SWEEP_EVERY_WRITES = 1024

# increment() accepts the values that Redis INCRBY accepts: signed 64-bit
# integers in canonical decimal form. Python's int() also parses " 5", "+5",
# "05", "-0" and "1_0", which Redis rejects, so the form is checked first.
_CANONICAL_INTEGER = re.compile(rb"0|-?[1-9][0-9]*")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class MemoryStore:
    """A :class:`~jivs_security.stores.KeyValueStore` held in this process's memory.

    It has the same semantics as :class:`~jivs_security.stores.RedisStore`
    (expiry, atomic set-if-absent and increment), so it is a complete backend
    for a single process and for tests. Its state is lost when the process
    exits and is not shared with other processes; use Redis for that.

    ``clock`` returns seconds on a monotonic scale; tests may pass a fake one
    to move time forward.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._writes_since_sweep = 0

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._values)})"

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._read(key, self._clock())

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        with self._lock:
            now = self._clock()
            return [self._read(key, now) for key in keys]

    def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        expires_at = None if ttl is None else self._clock() + validate_ttl(ttl)
        with self._lock:
            self._write(key, bytes(value), expires_at)

    def set_if_absent(self, key: str, value: bytes, *, ttl: float) -> bool:
        seconds = validate_ttl(ttl)
        with self._lock:
            now = self._clock()
            if self._read(key, now) is not None:
                return False
            self._write(key, bytes(value), now + seconds)
            return True

    def increment(self, key: str, amount: int = 1, *, ttl: float) -> int:
        seconds = validate_ttl(ttl)
        with self._lock:
            now = self._clock()
            current = self._read(key, now)
            if current is not None and not _is_counter(current):
                raise StoreError(
                    f"cannot increment key {key!r}: its value is not a 64-bit integer",
                    backend="MemoryStore",
                    operation="increment",
                )
            total = (0 if current is None else int(current)) + amount
            if not _INT64_MIN <= total <= _INT64_MAX:
                raise StoreError(
                    f"cannot increment key {key!r} by {amount}: the result would overflow "
                    "a signed 64-bit integer",
                    backend="MemoryStore",
                    operation="increment",
                )

            # Keep the existing expiry, as Redis INCRBY does; apply ``ttl``
            # only to a counter that has none.
            expires_at = None if current is None else self._values[key][1]
            if expires_at is None:
                expires_at = now + seconds
            self._write(key, str(total).encode("ascii"), expires_at)
            return total

    def ttl(self, key: str) -> float | None:
        with self._lock:
            now = self._clock()
            if self._read(key, now) is None:
                return None
            expires_at = self._values[key][1]
            return None if expires_at is None else expires_at - now

    def delete(self, *keys: str) -> int:
        with self._lock:
            now = self._clock()
            existed = 0
            for key in keys:
                if self._read(key, now) is not None:
                    existed += 1
                self._values.pop(key, None)
            return existed

    def run_script(
        self, script: AtomicScript, keys: Sequence[str], args: Sequence[str | int | float]
    ) -> Any:
        with self._lock:
            view = _LockedView(self, self._clock())
            return script.python(view, list(keys), [_as_redis_argument(arg) for arg in args])

    def close(self) -> None:
        with self._lock:
            self._values.clear()

    # The helpers below expect the caller to hold ``self._lock``.

    def _read(self, key: str, now: float) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= now:
            del self._values[key]
            return None
        return value

    def _write(self, key: str, value: bytes, expires_at: float | None) -> None:
        self._values[key] = (value, expires_at)
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= _SWEEP_EVERY_WRITES:
            self._sweep()

    def _sweep(self) -> None:
        now = self._clock()
        expired = [
            key
            for key, (_, expires_at) in self._values.items()
            if expires_at is not None and expires_at <= now
        ]
        for key in expired:
            del self._values[key]
        self._writes_since_sweep = 0


def _is_counter(value: bytes) -> bool:
    return (
        _CANONICAL_INTEGER.fullmatch(value) is not None and _INT64_MIN <= int(value) <= _INT64_MAX
    )


def _as_redis_argument(value: str | int | float) -> str:
    # redis-py sends ints with str() and floats with repr(); the Python half of
    # a script sees the same text the Lua half would.
    return repr(value) if isinstance(value, float) else str(value)


class _LockedView:
    """The store seen from inside :meth:`MemoryStore.run_script`.

    It calls the store's private helpers, which is safe because
    ``run_script`` holds the store's lock for the whole script.
    """

    def __init__(self, store: MemoryStore, now: float) -> None:
        self._store = store
        self._now = now

    def get(self, key: str) -> bytes | None:
        return self._store._read(key, self._now)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        expires_at = None if ttl is None else self._now + validate_ttl(ttl)
        self._store._write(key, bytes(value), expires_at)

    def ttl(self, key: str) -> float | None:
        if self.get(key) is None:
            return None
        expires_at = self._store._values[key][1]
        return None if expires_at is None else expires_at - self._now

    def delete(self, key: str) -> bool:
        existed = self.get(key) is not None
        self._store._values.pop(key, None)
        return existed
