"""A fake key provider and message helpers shared by the envelope encryption tests.

:class:`FakeKeyProvider` implements the ``KeyProvider`` protocol with
AES-256-GCM under key-encryption keys (KEKs) derived from its name and a
version number, so two instances with the same name open each other's
wrapped keys. It counts its key-service calls and can be switched to fail
the way a real key service does. It is for tests only: its KEKs are
derived from public strings.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._provider import WrappedKey
from jivs_security.errors import DecryptionFailed, KeyUnavailable

DATA_KEY_BYTES = 32
NONCE_BYTES = 12

# The operations that call the key service, as counted in ``calls``.
OPERATIONS = frozenset({"generate", "wrap", "unwrap", "rewrap"})


class Failure(enum.Enum):
    """How a switched-off :class:`FakeKeyProvider` fails."""

    UNAVAILABLE = "unavailable"
    DECRYPTION_FAILED = "decryption_failed"


class FakeKeyProvider:
    """A key provider with versioned KEKs, call counters and switchable failures.

    Key ids are ``"<name>/v<version>"``. :meth:`rotate` adds a version that
    wraps from then on, and :meth:`retire` deletes an old one. :meth:`fail`
    makes the chosen operations raise :class:`KeyUnavailable` or
    :class:`DecryptionFailed` until :meth:`recover` is called.
    """

    def __init__(self, name: str = "primary", *, provider_id: str = "fake") -> None:
        self._name = name
        self._provider_id = provider_id
        self._keks = {1: self._derive_kek(1)}
        self._current = 1
        self.calls: Counter[str] = Counter()
        self.failure: Failure | None = None
        self.failing_operations: frozenset[str] = OPERATIONS
        self.retryable = True

    def __repr__(self) -> str:
        return (
            f"FakeKeyProvider(provider_id={self._provider_id!r}, name={self._name!r}, "
            f"key_id={self.key_id!r})"
        )

    @property
    def provider_id(self) -> str:
        """The provider kind written into each wrapped key."""
        return self._provider_id

    @property
    def key_id(self) -> str:
        """The key id of the KEK version that wraps new data keys."""
        return self.key_id_of(self._current)

    @property
    def service_calls(self) -> int:
        """The number of key-service calls made so far, failed ones included."""
        return sum(self.calls.values())

    def key_id_of(self, version: int) -> str:
        """Return the key id of KEK ``version``."""
        return f"{self._name}/v{version}"

    def kek(self, version: int) -> bytes:
        """Return the key material of KEK ``version``, so tests can look for leaks of it."""
        return self._keks[version]

    def rotate(self) -> str:
        """Add a KEK version that wraps from now on; return its key id."""
        self._current += 1
        self._keks[self._current] = self._derive_kek(self._current)
        return self.key_id

    def retire(self, version: int) -> None:
        """Delete KEK ``version``, so data keys wrapped under it can no longer be unwrapped."""
        del self._keks[version]

    def fail(self, failure: Failure, *operations: str) -> None:
        """Make ``operations`` (every operation when none are named) fail with ``failure``."""
        self.failure = failure
        self.failing_operations = frozenset(operations) or OPERATIONS

    def recover(self) -> None:
        """Stop failing."""
        self.failure = None

    # The KeyProvider protocol.

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        """Encrypt ``data_key`` under the current KEK version."""
        self._call("wrap", self.key_id)
        return self._seal(data_key, self._current, context)

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        """Decrypt a wrapped data key; raise DecryptionFailed if it does not authenticate."""
        self._call("unwrap", wrapped.key_id)
        return self._open(wrapped, context)

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Return a new random data key and its wrapped form."""
        self._call("generate", self.key_id)
        data_key = os.urandom(DATA_KEY_BYTES)
        return data_key, self._seal(data_key, self._current, context)

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        """Re-encrypt a wrapped data key under the current KEK version."""
        self._call("rewrap", wrapped.key_id)
        return self._seal(self._open(wrapped, context), self._current, context)

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        """Return whether this provider has the KEK version that ``wrapped`` names."""
        return wrapped.provider_id == self._provider_id and self._version_of(wrapped) is not None

    # Internals.

    def _derive_kek(self, version: int) -> bytes:
        return hashlib.sha256(f"fake kek {self._name} v{version}".encode()).digest()

    def _call(self, operation: str, key_id: str) -> None:
        self.calls[operation] += 1
        if self.failure is None or operation not in self.failing_operations:
            return
        if self.failure is Failure.DECRYPTION_FAILED:
            raise DecryptionFailed
        raise KeyUnavailable(
            f"the fake key service {self._name!r} is switched off; call recover() first",
            provider=self._provider_id,
            key_id=key_id,
            retryable=self.retryable,
        )

    def _version_of(self, wrapped: WrappedKey) -> int | None:
        name, separator, number = wrapped.key_id.rpartition("/v")
        if not separator or name != self._name or not number.isdigit():
            return None
        version = int(number)
        return version if version in self._keks else None

    def _aad(self, version: int, context: Mapping[str, str]) -> bytes:
        key_id = self.key_id_of(version).encode("utf-8")
        return b"fake-wrap\x00" + key_id + b"\x00" + canonical_context(context)

    def _seal(self, data_key: bytes, version: int, context: Mapping[str, str]) -> WrappedKey:
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"data keys are {DATA_KEY_BYTES} bytes, got {len(data_key)}")
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keks[version]).encrypt(nonce, data_key, self._aad(version, context))
        return WrappedKey(self._provider_id, self.key_id_of(version), nonce + sealed)

    def _open(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        version = self._version_of(wrapped) if wrapped.provider_id == self._provider_id else None
        if version is None:
            raise KeyUnavailable(
                f"key {wrapped.key_id!r} not found in the fake key service {self._name!r}",
                provider=self._provider_id,
                key_id=wrapped.key_id,
                retryable=False,
            )
        nonce, sealed = wrapped.ciphertext[:NONCE_BYTES], wrapped.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(self._keks[version]).decrypt(nonce, sealed, self._aad(version, context))
        except (InvalidTag, ValueError):
            raise DecryptionFailed from None


# Contexts of other mapping types, as applications might pass them.


class ContextView(Mapping[str, str]):
    """A read-only mapping that is not a dict."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._pairs = dict(pairs)

    def __getitem__(self, key: str) -> str:
        return self._pairs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)


class ContextDict(dict[str, str]):
    """A dict subclass with nothing changed, which decryption compares by its serialised form."""


# Messages: splitting a message into its header and segments, and naming
# every byte of it, following the layout of format version 1.


@dataclass(frozen=True, slots=True)
class Region:
    """A named byte range ``[start, end)`` of a message."""

    name: str
    start: int
    end: int


def split_message(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Return a message's header and its sealed segments, each with its tag."""
    info = EnvelopeCipher.inspect(blob)
    chunk = info.segment_size + 16
    body = blob[info.header_size :]
    return blob[: info.header_size], [body[i : i + chunk] for i in range(0, len(body), chunk)]


def message_regions(blob: bytes) -> list[Region]:
    """Return a named region for every field of a well-formed message, in order.

    The documented layout is read here independently of the library's
    parser, so a test built on it also checks that the parser follows the
    documentation.
    """
    regions: list[Region] = []
    offset = 0

    def field(name: str, size: int) -> bytes:
        nonlocal offset
        regions.append(Region(name, offset, offset + size))
        offset += size
        return blob[offset - size : offset]

    field("magic", 4)
    field("version", 1)
    field("suite", 2)
    segment_size = int.from_bytes(field("segment size", 4), "big")
    header_length = int.from_bytes(field("header length", 4), "big")
    field("message id", 32)
    field("context", int.from_bytes(field("context length", 2), "big"))
    key_count = field("key count", 1)[0]
    for index in range(key_count):
        prefix = f"key {index} "
        field(prefix + "provider id", field(prefix + "provider id length", 1)[0])
        field(prefix + "key id", int.from_bytes(field(prefix + "key id length", 2), "big"))
        field(prefix + "ciphertext", int.from_bytes(field(prefix + "ciphertext length", 2), "big"))
    field("commitment", 32)
    field("header tag", 16)
    if offset != header_length:
        raise ValueError(f"the header length field is {header_length}, the fields end at {offset}")

    number = 0
    while offset < len(blob):
        size = min(segment_size + 16, len(blob) - offset)
        field(f"segment {number} ciphertext", size - 16)
        field(f"segment {number} tag", 16)
        number += 1
    return regions


def flip(blob: bytes, offset: int, mask: int) -> bytes:
    """Return ``blob`` with the byte at ``offset`` XORed with ``mask``."""
    changed = bytearray(blob)
    changed[offset] ^= mask
    return bytes(changed)


def secret_forms(secret: bytes) -> list[str]:
    """Return the ways ``secret`` could show up in text: its repr, hex and base64."""
    return [
        repr(secret),
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode("ascii"),
        base64.urlsafe_b64encode(secret).decode("ascii").rstrip("="),
    ]
