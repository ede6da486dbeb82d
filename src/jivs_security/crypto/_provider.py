"""The key provider protocol: how data keys are wrapped under key-encryption keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["KeyProvider", "WrappedKey"]


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under one key-encryption key (KEK).

    ``provider_id`` names the provider kind that can unwrap it (``"local"``,
    ``"vault-transit"``, ``"aws-kms"``), ``key_id`` the KEK and its version
    in that provider's own notation, and ``ciphertext`` the provider's
    output. ``ciphertext`` is not secret, but ``repr`` shows only its length.
    """

    provider_id: str
    key_id: str
    ciphertext: bytes = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"WrappedKey(provider_id={self.provider_id!r}, key_id={self.key_id!r}, "
            f"ciphertext=<{len(self.ciphertext)} bytes>)"
        )


@runtime_checkable
class KeyProvider(Protocol):
    """A service that keeps key-encryption keys and wraps data keys under them.

    ``context`` is the message's encryption context; every provider binds it
    to the wrapped key (as additional authenticated data, a KMS encryption
    context or a Transit derivation context), so unwrapping with another
    context fails. Failures to reach the service or use the key raise
    :class:`~jivs_security.errors.KeyUnavailable`; a wrapped key that does
    not authenticate raises :class:`~jivs_security.errors.DecryptionFailed`.
    """

    @property
    def provider_id(self) -> str:
        """The provider kind written into each wrapped key, such as ``"local"``."""
        ...

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        """Encrypt ``data_key`` under the current KEK version."""
        ...

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        """Decrypt a wrapped data key written by this provider kind."""
        ...

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Return a new 32-byte data key and its wrapped form, in one call where possible."""
        ...

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        """Re-encrypt ``wrapped`` under the current KEK version, without exposing it if possible."""
        ...

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        """Return whether this provider instance has the KEK that ``wrapped`` names."""
        ...
