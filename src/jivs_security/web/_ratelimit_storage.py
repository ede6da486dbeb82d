"""Opening the limits storage behind a RateLimiter, and parsing its limit.

limits is an optional dependency (the ``web`` extra), so it is imported
inside these functions. Storage URLs may carry a password, so errors and
descriptions show only the scheme, host, port and path.
"""

from __future__ import annotations

import math
import urllib.parse
from typing import TYPE_CHECKING, Final, cast

from jivs_security.errors import ConfigurationError

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.storage import Storage

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_SOCKET_TIMEOUT",
    "bad_setting",
    "open_storage",
    "parse_limit",
    "require_limits",
]

# Seconds. A request waits at most this long for Redis before the outage
# policy decides it. redis-py 8.2's own default is 5 s per step.
DEFAULT_SOCKET_TIMEOUT: Final = 1.0
DEFAULT_CONNECT_TIMEOUT: Final = 1.0


def bad_setting(setting: str, value: object, expected: str) -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}",
        setting=setting,
        expected=expected,
        value=value,
    )


def require_limits() -> None:
    try:
        import limits  # noqa: F401, PLC0415  (an optional dependency)
    except ImportError:
        raise ConfigurationError(
            "RateLimiter needs the limits package; install it with: pip install 'jivs[web]'",
            setting="limit",
            expected="the web extra installed",
        ) from None


def parse_limit(limit: object) -> RateLimitItem:
    import limits  # noqa: PLC0415

    if isinstance(limit, limits.RateLimitItem):
        item = limit
    elif isinstance(limit, str):
        try:
            items = limits.parse_many(limit)
        except ValueError:
            raise bad_setting(
                "limit", limit, "one limit such as '100/minute' or '10 per second'"
            ) from None
        if len(items) != 1:
            raise bad_setting(
                "limit",
                limit,
                "exactly one limit; build one RateLimiter per limit, each with its own name",
            )
        item = items[0]
    else:
        raise bad_setting("limit", limit, "a limit string such as '100/minute' or a RateLimitItem")
    if item.amount < 1:
        raise bad_setting("limit", limit, "a quota of at least 1")
    return item


def open_storage(
    storage: str | Storage,
    *,
    key_prefix: str | None,
    socket_timeout: float | None,
    connect_timeout: float | None,
) -> tuple[Storage, bool, str]:
    """Return the storage, whether this module opened it, and a description without secrets."""
    from limits.errors import ConfigurationError as LimitsConfigurationError  # noqa: PLC0415
    from limits.storage import Storage, storage_from_string  # noqa: PLC0415

    if isinstance(storage, Storage):
        for setting, value in (
            ("key_prefix", key_prefix),
            ("socket_timeout", socket_timeout),
            ("connect_timeout", connect_timeout),
        ):
            if value is not None:
                raise bad_setting(
                    setting,
                    value,
                    "None when storage is a Storage object; set it on that object instead",
                )
        return storage, False, type(storage).__name__
    if not isinstance(storage, str):
        raise bad_setting(
            "storage", type(storage).__name__, "a limits storage URL or Storage object"
        )

    where = _redact(storage)
    scheme = urllib.parse.urlsplit(storage).scheme
    options: dict[str, float | str | bool] = {"wrap_exceptions": True}
    if scheme.startswith(("redis", "valkey")):
        options["key_prefix"] = "jivs-ratelimit" if key_prefix is None else key_prefix
        options["socket_timeout"] = _seconds(
            "socket_timeout", DEFAULT_SOCKET_TIMEOUT if socket_timeout is None else socket_timeout
        )
        options["socket_connect_timeout"] = _seconds(
            "connect_timeout",
            DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout,
        )
    try:
        opened = storage_from_string(storage, **options)
    except LimitsConfigurationError as error:
        # limits' message repeats the URL, which may hold a password.
        raise bad_setting(
            "storage",
            where,
            "a limits storage URL such as 'memory://' or 'redis://host:6379/0' whose driver "
            f"is installed ({type(error).__name__} from limits)",
        ) from None
    return cast("Storage", opened), True, where


def _seconds(setting: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise bad_setting(setting, value, "a finite number of seconds above 0")
    return float(value)


def _redact(url: str) -> str:
    """Return ``url`` without user name and password, for errors and reprs."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return "<unparsable URL>"
    return f"{parts.scheme}://{netloc}{parts.path}"
