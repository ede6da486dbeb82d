"""A bounded cache of data keys, so that not every message costs a key-service call."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from jivs_security.crypto._provider import WrappedKey
from jivs_security.crypto._suite import KeySchedule
from jivs_security.errors import ConfigurationError

__all__ = ["DataKeyCache"]


# The key schedule is left out of each entry's repr, although its own repr
# is redacted, so the entries stay safe to print whatever it holds.
@dataclass(slots=True)
class _EncryptionEntry:
    schedule: KeySchedule = field(repr=False)
    wrapped_keys: tuple[WrappedKey, ...]
    created_at: float
    messages: int = 0
    plaintext_bytes: int = 0


@dataclass(slots=True)
class _DecryptionEntry:
    schedule: KeySchedule = field(repr=False)
    created_at: float


def _positive(value: float, setting: str, unit: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"{setting} must be a finite number above 0 {unit}, got {value!r}",
            setting=setting,
            expected=f"a finite number above 0 ({unit})",
            value=value,
        )
    return value


def _positive_int(value: int, setting: str, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(
            f"{setting} must be a whole number above 0 {unit}, got {value!r}",
            setting=setting,
            expected=f"a whole number above 0 ({unit})",
            value=value,
        )
    return value


class DataKeyCache:
    """Reuses a wrapped data key across messages within strict limits.

    Each entry contains the :class:`KeySchedule` of a data key rather than the
    key itself. A cached data key is never used as a content key directly:
    every message derives its own content key from it with HKDF and a random
    256-bit message id, so AES-GCM nonce limits never come into play. The limits
    bound how much data depends on one wrapped key and how long a key that
    a key service would now refuse (disabled, rotated) stays in use:
    ``max_age`` seconds since the key was made, ``max_messages`` messages and
    ``max_bytes`` plaintext bytes per key. ``max_entries`` bounds memory.

    Unwrapped keys seen while decrypting are cached for ``max_age`` too, so
    that many messages under one wrapped key cost one unwrap call.

    Streams bypass the cache when encrypting, because their size is not known
    before they start.
    """

    def __init__(
        self,
        *,
        max_age: float = 300.0,
        max_messages: int = 4096,
        max_bytes: int = 1 << 30,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = _positive(max_age, "max_age", "seconds")
        self._max_messages = _positive_int(max_messages, "max_messages", "messages")
        self._max_bytes = _positive_int(max_bytes, "max_bytes", "bytes")
        self._max_entries = _positive_int(max_entries, "max_entries", "entries")
        self._clock = clock
        self._lock = threading.Lock()
        self._encryption: OrderedDict[Hashable, _EncryptionEntry] = OrderedDict()
        self._decryption: OrderedDict[Hashable, _DecryptionEntry] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"DataKeyCache(max_age={self._max_age}, max_messages={self._max_messages}, "
            f"max_bytes={self._max_bytes}, entries={len(self._encryption) + len(self._decryption)})"
        )

    def take_for_encryption(
        self, key: Hashable, plaintext_bytes: int
    ) -> tuple[KeySchedule, tuple[WrappedKey, ...]] | None:
        """Return a cached data key for one more message of ``plaintext_bytes``, or ``None``.

        The use is counted against the entry's limits before it is returned;
        an entry past any limit is dropped.
        """
        with self._lock:
            entry = self._encryption.get(key)
            if entry is None:
                return None
            fits = (
                self._clock() - entry.created_at < self._max_age
                and entry.messages < self._max_messages
                and entry.plaintext_bytes + plaintext_bytes <= self._max_bytes
            )
            if not fits:
                del self._encryption[key]
                return None
            entry.messages += 1
            entry.plaintext_bytes += plaintext_bytes
            self._encryption.move_to_end(key)
            return entry.schedule, entry.wrapped_keys

    def put_for_encryption(
        self,
        key: Hashable,
        schedule: KeySchedule,
        wrapped_keys: tuple[WrappedKey, ...],
        plaintext_bytes: int,
    ) -> None:
        """Cache a new data key whose first message of ``plaintext_bytes`` is being encrypted."""
        if plaintext_bytes > self._max_bytes:
            return
        with self._lock:
            self._encryption[key] = _EncryptionEntry(
                schedule, wrapped_keys, self._clock(), messages=1, plaintext_bytes=plaintext_bytes
            )
            self._encryption.move_to_end(key)
            while len(self._encryption) > self._max_entries:
                self._encryption.popitem(last=False)

    def get_for_decryption(self, key: Hashable) -> KeySchedule | None:
        """Return an unwrapped data key cached under ``key`` if it is younger than ``max_age``."""
        with self._lock:
            entry = self._decryption.get(key)
            if entry is None:
                return None
            if self._clock() - entry.created_at >= self._max_age:
                del self._decryption[key]
                return None
            self._decryption.move_to_end(key)
            return entry.schedule

    def put_for_decryption(self, key: Hashable, schedule: KeySchedule) -> None:
        """Cache an unwrapped data key."""
        with self._lock:
            self._decryption[key] = _DecryptionEntry(schedule, self._clock())
            self._decryption.move_to_end(key)
            while len(self._decryption) > self._max_entries:
                self._decryption.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached key, for example after a key-encryption key was disabled."""
        with self._lock:
            self._encryption.clear()
            self._decryption.clear()

    def evict(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove the entries whose cache key matches ``predicate``; return how many."""
        with self._lock:
            removed = 0
            for table in (self._encryption, self._decryption):
                for key in [key for key in table if predicate(key)]:
                    del table[key]
                    removed += 1
            return removed
