"""A key provider over a local keyset file of versioned key-encryption keys.

:class:`LocalKeyProvider` keeps its key-encryption keys (KEKs) in one JSON
file. Each KEK is 32 random bytes and wraps data keys with AES-256-GCM. The
KEKs are numbered versions of one keyset: exactly one version is primary and
wraps new data keys, and the others still unwrap what they wrapped until they
are disabled (reversible) or retired (their key is destroyed).

The format of the keyset file is described in :mod:`jivs_security.crypto._keyset_file`.

Key ids
=======

A wrapped key's ``key_id`` is ``"<keyset id>/v<version>"``, for example
``"3f9c0a71d2b84e65/v2"``: the keyset id is 16 lowercase hex digits and the
version a decimal number without leading zeros.

Wrapped key format
==================

``ciphertext`` is ``nonce || encrypted data key || tag``: a random 12-byte
nonce, 32 bytes and a 16-byte GCM tag, 60 bytes in all. The additional
authenticated data (AAD) is the ASCII label ``jivs-security local-kek-wrap
v1`` and a zero byte, followed by the 16-character keyset id, the version as
a 32-bit big-endian number and the canonical encryption context. So a
wrapped key unwraps only under the same keyset, version and context.

Persistence
===========

Every change (:meth:`LocalKeyProvider.add_version`, ``promote``,
``disable``, ``enable``, ``retire``, ``change_passphrase``) writes the file
before it returns and before the provider uses the new state. A change whose
write fails leaves both file and provider as they were. Files are written to
a temporary file with mode 0600 in the same directory, flushed with
``fsync`` and renamed over the keyset file with ``os.replace``, so readers
never see a partial file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._keyset_file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    KEY_BYTES,
    MAX_FILE_BYTES,
    MAX_VERSION,
    NONCE_BYTES,
    SCRYPT_OWASP_MINIMUM,
    SCRYPT_TESTS_ONLY,
    Keyset,
    KeyVersionState,
    ScryptParameters,
    Version,
    below_owasp,
    decode,
    encode,
    is_int,
    new_protection,
    read_file,
    shorten,
    write_file,
)
from jivs_security.crypto._provider import WrappedKey
from jivs_security.errors import (
    ConfigurationError,
    DecryptionFailed,
    KeyNotFound,
    KeyRingError,
    KeyUnavailable,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "SCRYPT_OWASP_MINIMUM",
    "SCRYPT_TESTS_ONLY",
    "KeyVersionInfo",
    "KeyVersionState",
    "LocalKeyProvider",
    "ScryptParameters",
]

logger = logging.getLogger("jivs_security.crypto")

PROVIDER_ID: Final = "local"

_TAG_BYTES: Final = 16
_WRAPPED_BYTES: Final = NONCE_BYTES + KEY_BYTES + _TAG_BYTES

_WRAP_LABEL: Final = b"jivs-security local-kek-wrap v1\x00"

_KEY_ID: Final = re.compile(r"(?P<keyset>[0-9a-f]{16})/v(?P<version>[1-9][0-9]{0,9})")


@dataclass(frozen=True, slots=True)
class KeyVersionInfo:
    """A KEK version as :meth:`LocalKeyProvider.versions` describes it, without its key.

    ``retired`` is the time the key was destroyed, ``None`` for a version
    that is not retired. Times are UTC, to the second.
    """

    version: int
    key_id: str
    state: KeyVersionState
    primary: bool
    created: datetime
    retired: datetime | None


class LocalKeyProvider:
    """A :class:`~jivs_security.crypto.KeyProvider` whose KEKs live in a local keyset file.

    Build one with :meth:`create` or :meth:`open`, not with the constructor.
    The primary version wraps new data keys. To rotate, call
    :meth:`add_version` and then :meth:`promote`. Data keys wrapped under an
    older version still unwrap, and :meth:`rewrap` moves them to the
    primary version. :meth:`disable` stops a version from unwrapping until
    :meth:`enable`, and :meth:`retire` destroys its key for good.

    Every change is written to the file before it returns (see the module
    documentation for the format). One provider is safe to use from many
    threads. Processes are not coordinated: before each change the provider
    checks that the file still contains what it last read or wrote, and raises
    :class:`~jivs_security.errors.KeyRingError` if not, so a second process
    does not silently overwrite a rotation.
    """

    def __init__(self, path: Path, keyset: Keyset, digest: bytes) -> None:
        # Changes hold _change_lock while they write the file, so they run one
        # at a time. _state_lock is held only to read or replace _keyset, so
        # wrap() and unwrap() never wait for a file write.
        self._change_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._path = path
        self._keyset = keyset
        # The key ids that can_unwrap accepts, replaced with _keyset, so the
        # check on every decryption is one set lookup.
        self._unwrappable_key_ids = _unwrappable_key_ids(keyset)
        # SHA-256 of the file as last read or written, to notice other writers.
        self._digest = digest

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        passphrase: str | bytes | None = None,
        scrypt_parameters: ScryptParameters = SCRYPT_OWASP_MINIMUM,
    ) -> LocalKeyProvider:
        """Create a keyset file at ``path`` with one new KEK, version 1, as primary.

        With ``passphrase``, the keys are encrypted in the file under a key
        derived with scrypt and ``scrypt_parameters``. Keep the default
        except in tests (:data:`SCRYPT_TESTS_ONLY`). Raises
        :class:`~jivs_security.errors.KeyRingError` if ``path`` already
        exists, so an existing keyset is never overwritten.
        """
        target = Path(path)
        protection = None if passphrase is None else new_protection(passphrase, scrypt_parameters)
        now = _now()
        version = Version(1, KeyVersionState.ENABLED, now, None, os.urandom(KEY_BYTES))
        keyset = Keyset(secrets.token_hex(8), 1, {1: version}, protection)
        data = encode(keyset)

        try:
            write_file(target, data, overwrite=False)
        except FileExistsError:
            raise KeyRingError(
                f"cannot create keyset file {target}: the file already exists. Open it with "
                "LocalKeyProvider.open(), or choose another path"
            ) from None
        except OSError as exc:
            raise KeyRingError(f"cannot create keyset file {target}: {exc.strerror}") from None

        logger.info(
            "keyset created keyset_id=%s path=%s protected=%s",
            keyset.keyset_id,
            target,
            protection is not None,
        )
        return cls(target, keyset, hashlib.sha256(data).digest())

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, passphrase: str | bytes | None = None
    ) -> LocalKeyProvider:
        """Open the keyset file at ``path``, decrypting its keys with ``passphrase`` if protected.

        Raises :class:`~jivs_security.errors.InsecureKeyFile` when group or
        others have any permission on the file, and
        :class:`~jivs_security.errors.KeyRingError` when it cannot be read,
        is not a valid keyset, was modified, or the passphrase is wrong or
        missing.
        """
        source = Path(path)
        data = read_file(source)
        keyset = decode(data, source, passphrase)
        logger.info(
            "keyset opened keyset_id=%s path=%s versions=%d primary=%d",
            keyset.keyset_id,
            source,
            len(keyset.versions),
            keyset.primary,
        )
        if keyset.protection is not None and below_owasp(keyset.protection.parameters):
            parameters = keyset.protection.parameters
            logger.warning(
                "keyset file %s uses scrypt parameters n=%d r=%d p=%d, below the OWASP "
                "minimum. Call change_passphrase() to encrypt it again with the default",
                source,
                parameters.n,
                parameters.r,
                parameters.p,
            )
        return cls(source, keyset, hashlib.sha256(data).digest())

    def __repr__(self) -> str:
        keyset = self._keyset
        return (
            f"LocalKeyProvider(keyset_id={keyset.keyset_id!r}, primary={keyset.primary}, "
            f"versions={len(keyset.versions)})"
        )

    @property
    def provider_id(self) -> str:
        """``"local"``, the provider kind written into each wrapped key."""
        return PROVIDER_ID

    @property
    def keyset_id(self) -> str:
        """The random 16-hex-digit id of the keyset, the first part of every key id."""
        return self._keyset.keyset_id

    @property
    def path(self) -> Path:
        """The keyset file."""
        return self._path

    @property
    def primary_version(self) -> int:
        """The version that wraps new data keys."""
        return self._keyset.primary

    @property
    def protected(self) -> bool:
        """Whether the keys in the file are encrypted under a passphrase."""
        return self._keyset.protection is not None

    def versions(self) -> list[KeyVersionInfo]:
        """Describe every version, oldest first, without key material."""
        keyset = self._snapshot()
        return [
            KeyVersionInfo(
                version=version.number,
                key_id=_key_id(keyset.keyset_id, version.number),
                state=version.state,
                primary=version.number == keyset.primary,
                created=version.created,
                retired=version.retired,
            )
            for version in sorted(keyset.versions.values(), key=lambda v: v.number)
        ]

    def add_version(self) -> int:
        """Add a new enabled KEK version and return its number.

        The new version unwraps at once but wraps nothing until :meth:`promote`.
        """
        with self._change_lock:
            keyset = self._keyset
            number = max(keyset.versions) + 1
            if number > MAX_VERSION:
                raise KeyRingError(f"the keyset has reached the last version number, {MAX_VERSION}")
            version = Version(number, KeyVersionState.ENABLED, _now(), None, os.urandom(KEY_BYTES))
            self._commit(replace(keyset, versions={**keyset.versions, number: version}))
        logger.info("key version added keyset_id=%s version=%d", keyset.keyset_id, number)
        return number

    def promote(self, version: int) -> None:
        """Make the enabled ``version`` primary, so it wraps new data keys."""
        with self._change_lock:
            keyset = self._keyset
            current = self._get(version)
            if current.state is not KeyVersionState.ENABLED:
                raise KeyRingError(
                    f"cannot promote version {version} of keyset {keyset.keyset_id}: it is "
                    f"{current.state}, and only an enabled version can become primary"
                )
            previous = keyset.primary
            if version != previous:
                self._commit(replace(keyset, primary=version))
        logger.info(
            "key version promoted keyset_id=%s version=%d previous=%d",
            keyset.keyset_id,
            version,
            previous,
        )

    def disable(self, version: int) -> None:
        """Stop ``version`` from unwrapping until :meth:`enable`, unless it is the primary."""
        with self._change_lock:
            keyset = self._keyset
            current = self._get(version)
            if version == keyset.primary:
                raise KeyRingError(
                    f"cannot disable version {version} of keyset {keyset.keyset_id}: it is the "
                    "primary version. Promote another version first"
                )
            if current.state is KeyVersionState.RETIRED:
                raise KeyRingError(
                    f"cannot disable version {version} of keyset {keyset.keyset_id}: it is "
                    "retired and its key was destroyed"
                )
            if current.state is KeyVersionState.ENABLED:
                disabled = replace(current, state=KeyVersionState.DISABLED)
                self._commit(_with_version(keyset, disabled))
        logger.info("key version disabled keyset_id=%s version=%d", keyset.keyset_id, version)

    def enable(self, version: int) -> None:
        """Let a disabled ``version`` unwrap again, unless it was retired."""
        with self._change_lock:
            keyset = self._keyset
            current = self._get(version)
            if current.state is KeyVersionState.RETIRED:
                raise KeyRingError(
                    f"cannot enable version {version} of keyset {keyset.keyset_id}: it is "
                    "retired and its key was destroyed"
                )
            if current.state is KeyVersionState.DISABLED:
                enabled = replace(current, state=KeyVersionState.ENABLED)
                self._commit(_with_version(keyset, enabled))
        logger.info("key version enabled keyset_id=%s version=%d", keyset.keyset_id, version)

    def retire(self, version: int) -> None:
        """Destroy the key of ``version``, so data keys it wrapped can never be unwrapped.

        Rewrap what the version wrapped first (:meth:`rewrap`). The primary
        version cannot be retired. Retiring a retired version does nothing.

        NOTE: the key is removed from the keyset file and from this provider,
        but Python cannot overwrite the bytes object in memory, and the
        filesystem may keep the old file's blocks until they are reused.
        Backups and copies of the file still hold the key.
        """
        with self._change_lock:
            keyset = self._keyset
            current = self._get(version)
            if version == keyset.primary:
                raise KeyRingError(
                    f"cannot retire version {version} of keyset {keyset.keyset_id}: it is the "
                    "primary version. Promote another version first"
                )
            if current.state is not KeyVersionState.RETIRED:
                destroyed = replace(
                    current, state=KeyVersionState.RETIRED, retired=_now(), key=None
                )
                self._commit(_with_version(keyset, destroyed))
        logger.info("key version retired keyset_id=%s version=%d", keyset.keyset_id, version)

    def change_passphrase(
        self,
        new: str | bytes | None,
        *,
        scrypt_parameters: ScryptParameters = SCRYPT_OWASP_MINIMUM,
    ) -> None:
        """Encrypt the keys in the file under ``new``, or store them unencrypted if ``None``.

        A new salt is drawn each time. ``scrypt_parameters`` works as in
        :meth:`create`.
        """
        # Derivation takes a good part of a second with the default cost, so
        # it runs before taking the lock that other changes need.
        protection = None if new is None else new_protection(new, scrypt_parameters)
        with self._change_lock:
            keyset = self._keyset
            self._commit(replace(keyset, protection=protection))
        logger.info(
            "keyset passphrase changed keyset_id=%s protected=%s",
            keyset.keyset_id,
            protection is not None,
        )

    def save(self) -> None:
        """Write the keyset to its file again.

        Changes are saved as they are made, so this is needed only to
        restore a deleted file from memory. It raises
        :class:`~jivs_security.errors.KeyRingError` if another writer has
        changed the file since this provider read it.
        """
        with self._change_lock:
            self._commit(self._keyset)
            keyset = self._keyset
        logger.info(
            "keyset saved keyset_id=%s path=%s versions=%d",
            keyset.keyset_id,
            self._path,
            len(keyset.versions),
        )

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        """Encrypt the 32-byte ``data_key`` under the primary KEK, bound to ``context``."""
        if not isinstance(data_key, bytes) or len(data_key) != KEY_BYTES:
            raise ConfigurationError(
                "invalid data key: expected 32 bytes",
                setting="data_key",
                expected="bytes of length 32",
            )
        context_bytes = canonical_context(context)
        keyset = self._snapshot()
        version = keyset.versions[keyset.primary]
        assert version.key is not None  # the primary version is always enabled

        nonce = os.urandom(NONCE_BYTES)
        aad = _wrap_aad(keyset.keyset_id, version.number, context_bytes)
        sealed = AESGCM(version.key).encrypt(nonce, data_key, aad)
        return WrappedKey(
            provider_id=PROVIDER_ID,
            key_id=_key_id(keyset.keyset_id, version.number),
            ciphertext=nonce + sealed,
        )

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        """Decrypt a data key wrapped by this keyset.

        Raises :class:`~jivs_security.errors.KeyUnavailable` (not
        retryable) when ``wrapped`` names another provider, keyset or an
        unknown, disabled or retired version, and
        :class:`~jivs_security.errors.DecryptionFailed` when it does not
        authenticate under ``context``.
        """
        context_bytes = canonical_context(context)
        keyset = self._snapshot()
        number, key = self._unwrapping_key(keyset, wrapped)

        ciphertext = wrapped.ciphertext
        if not isinstance(ciphertext, bytes) or len(ciphertext) != _WRAPPED_BYTES:
            raise DecryptionFailed()
        aad = _wrap_aad(keyset.keyset_id, number, context_bytes)
        try:
            return AESGCM(key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionFailed() from None

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Return a new random 32-byte data key and its wrapped form."""
        data_key = os.urandom(KEY_BYTES)
        return data_key, self.wrap(data_key, context)

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        """Wrap the data key in ``wrapped`` again under the primary version.

        The data key is briefly in this process's memory: with local KEKs
        there is no separate service that could re-encrypt it unseen, and the
        process holding the KEKs can unwrap every data key anyway.
        """
        return self.wrap(self.unwrap(wrapped, context), context)

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        """Return whether ``wrapped`` names a version of this keyset that is not retired.

        A disabled version counts, because :meth:`enable` makes it usable
        again, but :meth:`unwrap` rejects it while it is disabled.
        """
        if not isinstance(wrapped, WrappedKey) or wrapped.provider_id != PROVIDER_ID:
            return False
        return isinstance(wrapped.key_id, str) and wrapped.key_id in self._unwrappable_key_ids

    def _snapshot(self) -> Keyset:
        """Return the current keyset, which is immutable and so safe to use without the lock."""
        with self._state_lock:
            return self._keyset

    def _unwrapping_key(self, keyset: Keyset, wrapped: WrappedKey) -> tuple[int, bytes]:
        """Return the version and KEK that ``wrapped`` names, or raise KeyUnavailable."""
        if not isinstance(wrapped, WrappedKey):
            raise ConfigurationError(
                f"invalid wrapped key: expected a WrappedKey, got {type(wrapped).__name__}",
                setting="wrapped",
                expected="a WrappedKey",
            )
        key_id = wrapped.key_id if isinstance(wrapped.key_id, str) else repr(wrapped.key_id)

        def unavailable(reason: str) -> KeyUnavailable:
            return KeyUnavailable(
                f"cannot unwrap with key {shorten(key_id)}: {reason}",
                provider=PROVIDER_ID,
                key_id=key_id,
                retryable=False,
            )

        if wrapped.provider_id != PROVIDER_ID:
            raise unavailable(
                f"it was wrapped by provider {shorten(wrapped.provider_id)}, not "
                f"{PROVIDER_ID!r}. Unwrap it with that provider"
            )
        parsed = _parse_key_id(key_id)
        if parsed is None:
            raise unavailable(
                "the key id is not in the local provider's '<keyset id>/v<version>' form"
            )
        keyset_id, number = parsed
        if keyset_id != keyset.keyset_id:
            raise unavailable(
                f"this provider has keyset {keyset.keyset_id}, not {keyset_id}. Open the "
                "keyset file that wrapped it"
            )
        version = keyset.versions.get(number)
        if version is None:
            raise unavailable(
                f"keyset {keyset_id} has no version {number} (its versions are 1 to "
                f"{max(keyset.versions)}). The keyset file may be an older copy"
            )
        if version.state is KeyVersionState.DISABLED:
            raise unavailable(f"version {number} is disabled. Call enable({number}) to use it")
        if version.key is None:
            raise unavailable(
                f"version {number} was retired and its key destroyed, so data keys wrapped "
                "under it cannot be recovered"
            )
        return number, version.key

    def _get(self, number: int) -> Version:
        if not is_int(number):
            raise ConfigurationError(
                f"invalid key version {number!r}: expected an int",
                setting="version",
                expected="a version number from versions()",
                value=number,
            )
        version = self._keyset.versions.get(number)
        if version is None:
            keyset_id = self._keyset.keyset_id
            raise KeyNotFound(
                f"keyset {keyset_id} has no version {number}. Call versions() to list them",
                kid=_key_id(keyset_id, number),
            )
        return version

    def _commit(self, keyset: Keyset) -> None:
        """Write ``keyset`` to the file, then adopt it. The caller must hold ``_change_lock``."""
        data = encode(keyset)
        if len(data) > MAX_FILE_BYTES:
            raise KeyRingError(
                f"the keyset file would be {len(data)} bytes, over the limit of "
                f"{MAX_FILE_BYTES}. Retired versions still take space, so start a new keyset"
            )
        self._check_unchanged()
        try:
            write_file(self._path, data, overwrite=True)
        except OSError as exc:
            raise KeyRingError(f"cannot write keyset file {self._path}: {exc.strerror}") from None
        self._digest = hashlib.sha256(data).digest()
        with self._state_lock:
            self._keyset = keyset
            self._unwrappable_key_ids = _unwrappable_key_ids(keyset)

    def _check_unchanged(self) -> None:
        # NOTE: another process can still write between this check and the
        # rename. The check catches a stale provider, not a true race, and
        # keyset changes should come from one process at a time.
        if not os.path.lexists(self._path):
            return  # a deleted file is written again from memory
        current = read_file(self._path)
        if not hmac.compare_digest(hashlib.sha256(current).digest(), self._digest):
            raise KeyRingError(
                f"keyset file {self._path} changed on disk since this provider read it, maybe "
                "by another process. Open it again with LocalKeyProvider.open() and repeat "
                "the change"
            )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _with_version(keyset: Keyset, version: Version) -> Keyset:
    return replace(keyset, versions={**keyset.versions, version.number: version})


# -------------------------------------------------------------------- key ids


def _key_id(keyset_id: str, version: int) -> str:
    return f"{keyset_id}/v{version}"


def _unwrappable_key_ids(keyset: Keyset) -> frozenset[str]:
    """Return the key ids of every version of ``keyset`` that is not retired."""
    return frozenset(
        _key_id(keyset.keyset_id, number)
        for number, version in keyset.versions.items()
        if version.state is not KeyVersionState.RETIRED
    )


def _parse_key_id(key_id: object) -> tuple[str, int] | None:
    if not isinstance(key_id, str):
        return None
    match = _KEY_ID.fullmatch(key_id)
    if match is None:
        return None
    number = int(match["version"])
    if number > MAX_VERSION:
        return None
    return match["keyset"], number


def _wrap_aad(keyset_id: str, version: int, context_bytes: bytes) -> bytes:
    # The keyset id always has 16 ASCII characters, so no length prefix is
    # needed to keep the fields apart.
    return _WRAP_LABEL + keyset_id.encode("ascii") + struct.pack(">I", version) + context_bytes
