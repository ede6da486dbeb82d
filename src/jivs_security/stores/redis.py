"""A key-value store on Redis through redis-py, shared by every process that uses it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from jivs_security.errors import ConfigurationError, StoreError, StoreUnavailable
from jivs_security.stores._protocol import validate_ttl
from jivs_security.stores._script import AtomicScript

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore"]

# INCRBY and PEXPIRE in one script, so a counter can never exist without an
# expiry, whatever happens between two commands. A counter that already has
# an expiry keeps it (a fixed window); PTTL is -1 only for a key without one.
_INCREMENT_SCRIPT = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return total
"""

# Seconds. A verify or a login waits at most this long for Redis before it
# fails closed; redis-py's own default is 5 s per step.
DEFAULT_SOCKET_TIMEOUT = 1.0
DEFAULT_CONNECT_TIMEOUT = 1.0


def _milliseconds(seconds: float) -> int:
    # Redis expiries are whole milliseconds; round up so a tiny TTL never becomes 0.
    return max(1, math.ceil(seconds * 1000))


class RedisStore:
    """A :class:`~jivs_security.stores.KeyValueStore` on a Redis server.

    Build it with :meth:`from_url`, which sets socket timeouts, or pass a
    ready ``redis.Redis`` client. Every key is prefixed with ``prefix`` so
    several applications can share one database. Connection failures and
    timeouts raise :class:`~jivs_security.errors.StoreUnavailable`.

    For Redis Cluster, keys that callers want handled in one round trip
    must share a hash tag (``{...}``). The token service builds its keys that
    way.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = "jivs:") -> None:
        pool_settings = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
        if pool_settings.get("socket_timeout", 0) is None:
            raise ConfigurationError(
                "the Redis client has no socket_timeout, so a stalled server would block "
                "callers forever; build it with socket_timeout=1.0 or use RedisStore.from_url()",
                setting="client",
                expected="a redis.Redis client with socket_timeout set",
            )
        if pool_settings.get("decode_responses", False):
            raise ConfigurationError(
                "the Redis client has decode_responses=True, so reads would return str where "
                "callers compare bytes. Build it without decode_responses or use "
                "RedisStore.from_url()",
                setting="client",
                expected="a redis.Redis client with decode_responses=False",
            )
        self._client = client
        self._prefix = prefix
        self._increment: Callable[..., Any] = client.register_script(_INCREMENT_SCRIPT)
        self._scripts: dict[str, tuple[str, Callable[..., Any]]] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "jivs:",
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        **client_options: Any,
    ) -> RedisStore:
        """Connect to the Redis server at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        ``rediss://`` URLs verify the server certificate, as redis-py does by
        default. Extra keyword arguments go to ``redis.Redis.from_url``.
        """
        try:
            import redis  # noqa: PLC0415  (an optional dependency)
        except ImportError:
            raise ConfigurationError(
                "RedisStore needs the redis package; install it with: pip install 'jivs[redis]'",
                setting="url",
                expected="the redis extra installed",
            ) from None

        validate_ttl(socket_timeout, setting="socket_timeout")
        validate_ttl(connect_timeout, setting="connect_timeout")
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                **client_options,
            )
        except ValueError as exc:
            # redis-py's messages name the scheme it expected, not the URL,
            # which may carry a password.
            raise ConfigurationError(
                f"invalid Redis URL: {exc}",
                setting="url",
                expected="a redis://, rediss:// or unix:// URL",
            ) from None
        return cls(client, prefix=prefix)

    def __repr__(self) -> str:
        # The connection pool's repr may hold a password from the URL, so only
        # the address is shown.
        settings = self._client.connection_pool.connection_kwargs
        where = settings.get("path") or f"{settings.get('host')}:{settings.get('port')}"
        return f"RedisStore(address={where!r}, prefix={self._prefix!r})"

    @property
    def client(self) -> redis.Redis:
        """The underlying redis-py client, for operations this class does not cover."""
        return self._client

    def key(self, key: str) -> str:
        """Return ``key`` with this store's prefix, as it is named in Redis."""
        return self._prefix + key

    def get(self, key: str) -> bytes | None:
        with self._guard("get"):
            value = self._client.get(self._prefix + key)
        return cast(bytes | None, value)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        with self._guard("get_many"):
            values = self._client.mget([self._prefix + key for key in keys])
        # The client is built without decode_responses, so values are bytes.
        return cast(list[bytes | None], values)

    def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        expiry = None if ttl is None else _milliseconds(validate_ttl(ttl))
        with self._guard("set"):
            self._client.set(self._prefix + key, value, px=expiry)

    def set_if_absent(self, key: str, value: bytes, *, ttl: float) -> bool:
        expiry = _milliseconds(validate_ttl(ttl))
        with self._guard("set_if_absent"):
            stored = self._client.set(self._prefix + key, value, px=expiry, nx=True)
        return bool(stored)

    def increment(self, key: str, amount: int = 1, *, ttl: float) -> int:
        expiry = _milliseconds(validate_ttl(ttl))
        with self._guard("increment"):
            total = self._increment(keys=[self._prefix + key], args=[amount, expiry])
        return int(total)

    def ttl(self, key: str) -> float | None:
        with self._guard("ttl"):
            remaining = int(self._client.pttl(self._prefix + key))
        # PTTL returns -2 for a missing key and -1 for a key without expiry.
        return None if remaining < 0 else remaining / 1000

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        with self._guard("delete"):
            deleted = self._client.delete(*(self._prefix + key for key in keys))
        return int(deleted)

    def run_script(
        self, script: AtomicScript, keys: Sequence[str], args: Sequence[str | int | float]
    ) -> Any:
        registered = self._scripts.get(script.name)
        if registered is None or registered[0] != script.lua:
            registered = (script.lua, self._client.register_script(script.lua))
            self._scripts[script.name] = registered
        with self._guard(f"run_script({script.name})"):
            return registered[1](keys=[self._prefix + key for key in keys], args=list(args))

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        """Translate redis-py errors into this package's store errors."""
        import redis  # noqa: PLC0415  (already imported when a client exists)

        try:
            yield
        except redis.AuthenticationError as exc:
            # A subclass of redis-py's ConnectionError, but retrying with the
            # same credentials cannot succeed.
            raise StoreUnavailable(
                f"Redis store rejected the credentials during {operation}: "
                f"{type(exc).__name__}. Check the user name and password in the URL.",
                backend="RedisStore",
                operation=operation,
                retryable=False,
            ) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(
                f"Redis store unavailable during {operation}: {type(exc).__name__}: "
                f"{str(exc).rstrip('.')}. "
                "Check that the server is running and reachable, then retry; treat this "
                "operation as failed.",
                backend="RedisStore",
                operation=operation,
            ) from exc
        except redis.RedisError as exc:
            raise StoreError(
                f"Redis rejected {operation}: {type(exc).__name__}: {exc}",
                backend="RedisStore",
                operation=operation,
            ) from exc
