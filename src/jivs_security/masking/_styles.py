"""How a detected value is replaced: redacted, partly kept, or replaced by a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, Protocol, runtime_checkable

from jivs_security.errors import ConfigurationError

__all__ = ["KeepLast", "KeyedHash", "MaskStyle", "Redact"]

# RFC 2104, section 3: a key shorter than the hash output (32 bytes for
# SHA-256) weakens HMAC, so shorter keys are rejected.
MIN_HASH_KEY_BYTES: Final = 32


@runtime_checkable
class MaskStyle(Protocol):
    """A replacement rule: turns a detected value into the text logged in its place."""

    def replace(self, label: str, value: str) -> str:
        """Return the replacement for ``value``, which detector ``label`` found."""
        ...


class Redact:
    """Replace the value with ``[REDACTED:<detector>]``; nothing of it remains."""

    __slots__ = ()

    def replace(self, label: str, value: str) -> str:
        """Return ``[REDACTED:<label>]``."""
        return f"[REDACTED:{label}]"

    def __repr__(self) -> str:
        return "Redact()"


class KeepLast:
    """Keep the last ``count`` characters, as in ``[REDACTED:card:****1111]``.

    The characters are kept only when the value is at least three times
    ``count`` long, so a short secret is redacted whole rather than mostly
    shown. For card numbers, PCI DSS v4.0.1 requirement 3.4.1 allows at most
    the BIN and the last four digits to be displayed.
    """

    __slots__ = ("count",)

    def __init__(self, count: int = 4) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 8:
            raise ConfigurationError(
                f"Invalid count {count!r} for KeepLast: expected an int from 1 to 8.",
                setting="count",
                expected="an int from 1 to 8",
                value=count,
            )
        self.count = count

    def replace(self, label: str, value: str) -> str:
        """Return ``[REDACTED:<label>:****<last characters>]``, or the full redaction when short."""
        if len(value) < 3 * self.count:
            return f"[REDACTED:{label}]"
        return f"[REDACTED:{label}:****{value[-self.count :]}]"

    def __repr__(self) -> str:
        return f"KeepLast({self.count})"


class KeyedHash:
    """Replace the value with a truncated HMAC-SHA-256, as in ``[REDACTED:email:hmac:1f0c...]``.

    Equal values give equal replacements under one key, so log lines about
    the same card or address can be correlated without showing it. The
    detector name is part of the hashed input, so equal text found by two
    detectors hashes differently. ``key`` must be secret and at least 32
    bytes; without it, anyone could hash candidate values (every e-mail
    address of a customer list, say) and match them. ``length`` is the
    number of hex characters kept, from 16 (64 bits) to 64.
    """

    __slots__ = ("_key", "length")

    def __init__(self, key: bytes, *, length: int = 16) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_HASH_KEY_BYTES:
            raise ConfigurationError(
                f"Invalid key for KeyedHash: expected at least {MIN_HASH_KEY_BYTES} random bytes "
                "(RFC 2104, section 3); generate one with secrets.token_bytes(32) and keep it "
                "with the application's other secrets.",
                setting="key",
                expected=f"bytes of length >= {MIN_HASH_KEY_BYTES}",
            )
        if isinstance(length, bool) or not isinstance(length, int) or not 16 <= length <= 64:
            raise ConfigurationError(
                f"Invalid length {length!r} for KeyedHash: expected an int from 16 to 64 hex "
                "characters.",
                setting="length",
                expected="an int from 16 to 64",
                value=length,
            )
        self._key = key
        self.length = length

    def replace(self, label: str, value: str) -> str:
        """Return ``[REDACTED:<label>:hmac:<hex>]`` with the truncated HMAC of label and value."""
        message = label.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogatepass")
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        return f"[REDACTED:{label}:hmac:{digest[: self.length]}]"

    def __repr__(self) -> str:
        return f"KeyedHash(key=[secure], length={self.length})"
