"""Atomic multi-key steps written once in Lua for Redis and once in Python for memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["AtomicScript", "ScriptView"]


class ScriptView(Protocol):
    """The store as the Python half of an :class:`AtomicScript` sees it.

    Every call happens while the store is locked, so the whole script is one
    atomic step, as a Lua script is on Redis. Keys are the script's own keys
    without the store prefix, and TTLs are in seconds.
    """

    def get(self, key: str) -> bytes | None:
        """Return the value at ``key``, or ``None`` when it is absent or expired."""
        ...

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` at ``key`` with ``ttl`` seconds to live, or without expiry."""
        ...

    def ttl(self, key: str) -> float | None:
        """Return the seconds until ``key`` expires; ``None`` if absent or without expiry."""
        ...

    def delete(self, key: str) -> bool:
        """Delete ``key`` and return whether it existed."""
        ...


@dataclass(frozen=True)
class AtomicScript:
    """One atomic step over several keys, in two implementations with the same result.

    ``lua`` runs on Redis through EVALSHA. ``python`` runs in a
    :class:`~jivs_security.stores.MemoryStore` under its lock and receives
    ``(view, keys, args)``. Both receive ``args`` as strings, as Redis passes
    them, and must return the same shape: an integer, bytes, ``None`` or a
    list of those, which is what redis-py returns for a Lua reply.

    On Redis Cluster every key a script touches must share a hash tag.
    """

    name: str
    lua: str
    python: Callable[[ScriptView, Sequence[str], Sequence[str]], Any]
