"""Crypto-shredding: encrypt each data subject's data under a key that can be destroyed.

:class:`SubjectKeys` gives every data subject (a person, in GDPR terms) a
random 32-byte subject key, wrapped by a key provider and stored in a
:class:`~jivs_security.crypto.SubjectKeyRegistry`. Data for the subject is
encrypted in the envelope format, with data keys wrapped under the subject
key. :meth:`SubjectKeys.shred` replaces the registry entry with a tombstone,
after which nothing encrypted for the subject can be decrypted: erasure
without finding every copy of the data.

Subject ids may be personal data themselves (an e-mail address), so they are
never stored, logged or written into a message. Everything uses the subject
tag instead: the first 32 hex digits (128 bits) of SHA-256 over a fixed
label and the subject id, or of HMAC-SHA-256 under ``tag_key`` when one is
given.

Limits of crypto-shredding
==========================

NOTE: shredding is final only once every copy of the wrapped subject key is
gone, or the key-encryption key (KEK) version that wrapped it is destroyed.
The tombstone removes the wrapped key from the registry's current state, but
copies outlive it: old row versions and the write-ahead log in PostgreSQL,
free pages in SQLite, Redis snapshots and AOF files, replicas, and every
backup. The KEK that wrapped the key still wraps every other subject's key,
so it stays alive, and any surviving copy plus that KEK recovers the subject
key and with it the data. Therefore:

- Keep backups of the registry for a bounded time, and tell the data subject
  that period. Shredding is complete when the last backup taken before the
  shredding has expired.
- Rotate the KEK on a schedule, and destroy old KEK versions (for example
  :meth:`LocalKeyProvider.retire`) once no live record and no retained backup
  needs them. A backup copy wrapped under a destroyed version is useless.
- Give each tenant its own KEK, so a whole tenant can be shredded by
  destroying one key.
- On PostgreSQL, run :meth:`SqlSubjectRegistry.vacuum` after shredding.

Other processes keep the unwrapped key in their caches for at most
``max_age`` seconds after :meth:`SubjectKeys.shred`, and Python cannot wipe
a key from memory. Copies of the plaintext outside this library (search
indexes, logs, exports) are not covered at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._provider import KeyProvider, WrappedKey
from jivs_security.crypto._subject_store import SubjectKeyRecord, SubjectKeyRegistry
from jivs_security.crypto._suite import suite_by_name
from jivs_security.errors import (
    ConfigurationError,
    DecryptionFailed,
    KeyUnavailable,
    StoreError,
    SubjectKeyNotFound,
    SubjectShredded,
)

__all__ = ["SUBJECT_CONTEXT_KEY", "SubjectKeys"]

logger = logging.getLogger("jivs_security.crypto")

#: The encryption context key that carries the subject tag in every message.
SUBJECT_CONTEXT_KEY: Final = "jivs:subject"

DEFAULT_MAX_AGE: Final = 60.0  # seconds a cached subject key is used before the registry is read

SUBJECT_PROVIDER_ID: Final = "subject"

_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12  # 96-bit GCM nonces (NIST SP 800-38D, section 8.2.2)
_WRAPPED_BYTES: Final = _NONCE_BYTES + _KEY_BYTES + 16

# 128 bits: two of a billion subjects share a tag with a probability of
# about 2**-69, and subjects sharing a tag would share a key.
_TAG_HEX_DIGITS: Final = 32
_TAG_LABEL: Final = b"jivs-security subject tag v1\x00"
_DATA_KEY_WRAP_LABEL: Final = b"jivs-security subject data-key wrap v1\x00"

# RFC 2104, section 3: an HMAC key shorter than the hash output (32 bytes
# for SHA-256) weakens it.
_MIN_TAG_KEY_BYTES: Final = 32


class _SubjectKeyProvider:
    """The key provider of one subject: wraps data keys under the subject key.

    Wrapped keys are ``nonce || encrypted data key || tag`` under AES-256-GCM
    with a random 96-bit nonce. The additional authenticated data is the
    label, the subject tag and the canonical encryption context. NIST SP
    800-38D, section 8.3, allows 2**32 wraps per subject key with random
    nonces; each message is one wrap.
    """

    def __init__(self, subject_tag: str, subject_key: bytes) -> None:
        self._tag = subject_tag
        self._aead = AESGCM(subject_key)

    def __repr__(self) -> str:
        return f"_SubjectKeyProvider(subject_tag={self._tag!r})"

    @property
    def provider_id(self) -> str:
        return SUBJECT_PROVIDER_ID

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data_key, self._aad(context))
        return WrappedKey(SUBJECT_PROVIDER_ID, self._tag, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        if not self.can_unwrap(wrapped) or len(wrapped.ciphertext) != _WRAPPED_BYTES:
            raise DecryptionFailed
        nonce, sealed = wrapped.ciphertext[:_NONCE_BYTES], wrapped.ciphertext[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(context))
        except InvalidTag:
            raise DecryptionFailed from None

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        data_key = os.urandom(_KEY_BYTES)
        return data_key, self.wrap(data_key, context)

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        # A subject key has a single version, so rewrapping only renews the nonce.
        return self.wrap(self.unwrap(wrapped, context), context)

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        return wrapped.provider_id == SUBJECT_PROVIDER_ID and wrapped.key_id == self._tag

    def _aad(self, context: Mapping[str, str]) -> bytes:
        return _DATA_KEY_WRAP_LABEL + self._tag.encode("ascii") + canonical_context(context)


class _CipherCache:
    """A thread-safe LRU cache of subject tag to the subject's cipher, with a maximum age.

    ``generation`` counts evictions. A loader reads it before asking the
    registry and passes it to :meth:`put`, which drops the entry if an
    eviction happened in between, so a shred that races a load cannot leave
    the old key cached.
    """

    def __init__(self, size: int, max_age: float, clock: Callable[[], float]) -> None:
        self._size = size
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[EnvelopeCipher, float]] = OrderedDict()
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, subject_tag: str) -> EnvelopeCipher | None:
        with self._lock:
            entry = self._entries.get(subject_tag)
            if entry is None:
                return None
            cipher, loaded_at = entry
            if self._clock() - loaded_at >= self._max_age:
                del self._entries[subject_tag]
                return None
            self._entries.move_to_end(subject_tag)
            return cipher

    def put(self, subject_tag: str, cipher: EnvelopeCipher, generation: int) -> None:
        with self._lock:
            if self._size == 0 or generation != self.generation:
                return
            self._entries[subject_tag] = (cipher, self._clock())
            self._entries.move_to_end(subject_tag)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def evict(self, subject_tag: str) -> None:
        with self._lock:
            self._entries.pop(subject_tag, None)
            self.generation += 1


class SubjectKeys:
    """Per-subject keys for crypto-shredding: encrypt for a subject, decrypt, shred.

    ``registry`` stores each subject's key wrapped by ``provider``; the
    subject key itself is never stored. The first :meth:`encrypt_for` of a
    subject creates its key. When several processes do that at once, each
    inserts only if no record exists and then reads the winner's record, so
    the subject ends with exactly one key.

    Messages are in the envelope format with ``suite``. The subject tag is
    added to the encryption context under :data:`SUBJECT_CONTEXT_KEY`, so a
    message encrypted for one subject does not decrypt as another's. The
    tag, not the subject id, appears in message headers, registry keys and
    logs. Without ``tag_key`` the tag is a plain SHA-256 hash, which anyone
    who can guess a subject id (an e-mail address, say) can recompute:
    registry entries and tombstones are then pseudonymous, not anonymous.
    With ``tag_key`` (at least 32 secret bytes, kept as long as the
    registry) the tag is an HMAC that cannot be recomputed without it.

    Unwrapped subject keys are cached for up to ``max_age`` seconds in an LRU
    cache of ``cache_size`` subjects (0 turns caching off). :meth:`shred`
    evicts this instance's cache entry; other instances and processes use
    their cached key for at most ``max_age`` seconds more. ``clock`` returns
    monotonic seconds; tests may pass a fake one.

    After :meth:`shred`, :meth:`encrypt_for` and :meth:`decrypt_for` raise
    :class:`~jivs_security.errors.SubjectShredded` for that subject id, for
    good: a shredded subject never silently gets a new key. To admit a
    returning person, give them a new subject id. Use an internal random id
    (such as a UUID per account) as the subject id rather than an e-mail
    address, so a new account means a new id. :meth:`decrypt_for` for a
    subject id that never had a key raises
    :class:`~jivs_security.errors.SubjectKeyNotFound`, which usually means
    the wrong subject id was passed.

    The module documentation lists what shredding cannot reach.
    """

    def __init__(
        self,
        registry: SubjectKeyRegistry,
        provider: KeyProvider,
        *,
        cache_size: int = 1024,
        max_age: float = DEFAULT_MAX_AGE,
        suite: str = "aes-256-gcm",
        tag_key: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(registry, SubjectKeyRegistry):
            raise ConfigurationError(
                f"{type(registry).__name__} is not a subject key registry",
                setting="registry",
                expected="a SubjectKeyRegistry such as SqlSubjectRegistry",
                value=type(registry).__name__,
            )
        if not isinstance(provider, KeyProvider):
            raise ConfigurationError(
                f"{type(provider).__name__} is not a key provider",
                setting="provider",
                expected="an object implementing jivs_security.crypto.KeyProvider",
                value=type(provider).__name__,
            )
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigurationError(
                f"cache_size must be an int of 0 or more subjects, got {cache_size!r}",
                setting="cache_size",
                expected="an int of 0 or more (0 turns caching off)",
                value=cache_size,
            )
        if (
            isinstance(max_age, bool)
            or not isinstance(max_age, int | float)
            or not math.isfinite(max_age)
            or max_age <= 0
        ):
            raise ConfigurationError(
                f"max_age must be a finite number of seconds above 0, got {max_age!r}",
                setting="max_age",
                expected="a finite number of seconds above 0",
                value=max_age,
            )
        if tag_key is not None and (
            not isinstance(tag_key, bytes) or len(tag_key) < _MIN_TAG_KEY_BYTES
        ):
            raise ConfigurationError(
                f"tag_key must be at least {_MIN_TAG_KEY_BYTES} bytes",
                setting="tag_key",
                expected=f"None or bytes of at least {_MIN_TAG_KEY_BYTES} random bytes",
            )
        self._suite = suite_by_name(suite).name
        self._registry = registry
        self._provider = provider
        self._tag_key = tag_key
        self._max_age = float(max_age)
        self._cache = _CipherCache(cache_size, self._max_age, clock)

    def __repr__(self) -> str:
        return (
            f"SubjectKeys(registry={self._registry!r}, provider={self._provider!r}, "
            f"suite={self._suite!r}, cached={len(self._cache)}, max_age={self._max_age}, "
            f"keyed_tags={self._tag_key is not None})"
        )

    def subject_tag(self, subject: str) -> str:
        """Return the subject tag of ``subject``: what registries, headers and logs show."""
        if not isinstance(subject, str):
            raise _invalid_subject(f"got {type(subject).__name__}")
        if not subject:
            raise _invalid_subject("got an empty str")
        try:
            encoded = _TAG_LABEL + subject.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid_subject("it is not valid Unicode") from None
        if self._tag_key is None:
            digest = hashlib.sha256(encoded).hexdigest()
        else:
            digest = hmac.new(self._tag_key, encoded, hashlib.sha256).hexdigest()
        return digest[:_TAG_HEX_DIGITS]

    def encrypt_for(
        self, subject: str, data: bytes, *, context: Mapping[str, str] | None = None
    ) -> bytes:
        """Encrypt ``data`` for ``subject``, creating the subject's key on first use.

        Raises :class:`~jivs_security.errors.SubjectShredded` if the
        subject's key was destroyed.
        """
        tag = self.subject_tag(subject)
        full_context = _with_subject(tag, context)
        return self._cipher(tag, create=True).encrypt(data, context=full_context)

    def decrypt_for(
        self, subject: str, blob: bytes, *, context: Mapping[str, str] | None = None
    ) -> bytes:
        """Decrypt a message that :meth:`encrypt_for` wrote for ``subject`` with ``context``.

        Raises :class:`~jivs_security.errors.SubjectShredded` if the key was
        destroyed, :class:`~jivs_security.errors.SubjectKeyNotFound` if the
        subject never had one, and
        :class:`~jivs_security.errors.DecryptionFailed` if the message was
        altered or written for another subject or context.
        """
        tag = self.subject_tag(subject)
        full_context = _with_subject(tag, context)
        return self._cipher(tag, create=False).decrypt(blob, context=full_context)

    def shred(self, subject: str) -> bool:
        """Destroy the subject's key; return whether a key existed until now.

        The registry entry becomes a tombstone with the time of shredding
        and no key material. A subject without a key gets a tombstone too,
        so none can be created later. Calling it again changes nothing and
        returns ``False``.
        """
        tag = self.subject_tag(subject)
        try:
            destroyed = self._registry.replace_with_tombstone(tag, datetime.now(UTC))
        finally:
            self._cache.evict(tag)
        logger.info("subject key shredded subject_tag=%s destroyed=%s", tag, destroyed)
        return destroyed

    def shredded(self, subject: str) -> bool:
        """Return whether the subject's key was shredded, as the registry records it now."""
        record = self._registry.get(self.subject_tag(subject))
        return record is not None and record.shredded

    # Keys.

    def _cipher(self, tag: str, *, create: bool) -> EnvelopeCipher:
        """Return the subject's cipher from the cache, or from the registry and provider."""
        cached = self._cache.get(tag)
        if cached is not None:
            return cached

        generation = self._cache.generation
        subject_key: bytes | None = None
        record = self._registry.get(tag)
        if record is None:
            if not create:
                raise SubjectKeyNotFound(
                    f"no key is registered for data subject {tag}, so nothing encrypted for "
                    "this subject id can be decrypted. Check that the subject id is the one "
                    "used to encrypt",
                    subject_tag=tag,
                )
            record, subject_key = self._create(tag)
        if record.shredded_at is not None:
            raise SubjectShredded(
                f"the key of data subject {tag} was destroyed (crypto-shredded) at "
                f"{record.shredded_at.isoformat()}, so data encrypted for this subject id "
                "cannot be decrypted and no new key is made for it. Give a returning person "
                "a new subject id",
                subject_tag=tag,
            )
        if subject_key is None:
            subject_key = self._unwrap(record)

        cipher = EnvelopeCipher(_SubjectKeyProvider(tag, subject_key), suite=self._suite)
        self._cache.put(tag, cipher, generation)
        return cipher

    def _create(self, tag: str) -> tuple[SubjectKeyRecord, bytes | None]:
        """Create and register a subject key, or return the record that another caller stored."""
        subject_key, wrapped = self._provider.generate(_wrap_context(tag))
        if len(subject_key) != _KEY_BYTES:
            raise KeyUnavailable(
                f"{type(self._provider).__name__} generated a {len(subject_key)}-byte key; "
                f"subject keys are {_KEY_BYTES} bytes",
                provider=self._provider.provider_id,
                key_id=wrapped.key_id,
                retryable=False,
            )
        record = SubjectKeyRecord.live(tag, wrapped, datetime.now(UTC))
        if self._registry.insert_if_absent(record):
            logger.info(
                "subject key created subject_tag=%s provider=%s key_id=%s",
                tag,
                wrapped.provider_id,
                wrapped.key_id,
            )
            return record, subject_key

        existing = self._registry.get(tag)
        if existing is None:
            raise StoreError(
                f"the registry rejected the new key of subject {tag} as a duplicate, but "
                "contains no record for it. Check that it never deletes or expires records",
                backend=type(self._registry).__name__,
                operation="insert_if_absent",
            )
        return existing, None

    def _unwrap(self, record: SubjectKeyRecord) -> bytes:
        wrapped = record.wrapped_key
        assert wrapped is not None  # a record that is not shredded contains a key
        if wrapped.provider_id != self._provider.provider_id or not self._provider.can_unwrap(
            wrapped
        ):
            raise KeyUnavailable(
                f"the key of data subject {record.subject_tag} is wrapped by provider "
                f"{wrapped.provider_id!r} under key {wrapped.key_id!r}, which "
                f"{type(self._provider).__name__} cannot unwrap. Configure the provider that "
                "holds that key",
                provider=wrapped.provider_id,
                key_id=wrapped.key_id,
                retryable=False,
            )
        try:
            subject_key = self._provider.unwrap(wrapped, _wrap_context(record.subject_tag))
        except DecryptionFailed:
            # A record copied from another subject, or altered, lands here.
            logger.warning(
                "subject key failed to unwrap subject_tag=%s provider=%s key_id=%s",
                record.subject_tag,
                wrapped.provider_id,
                wrapped.key_id,
            )
            raise
        if len(subject_key) != _KEY_BYTES:
            raise DecryptionFailed
        return subject_key


def _wrap_context(tag: str) -> dict[str, str]:
    """Return the context that binds a wrapped subject key to its subject."""
    return {"jivs:purpose": "subject-key", SUBJECT_CONTEXT_KEY: tag}


def _with_subject(tag: str, context: Mapping[str, str] | None) -> dict[str, str]:
    """Return ``context`` with the subject tag added under :data:`SUBJECT_CONTEXT_KEY`."""
    if context is None:
        return {SUBJECT_CONTEXT_KEY: tag}
    canonical_context(context)  # Raises the standard error for an invalid context.
    if SUBJECT_CONTEXT_KEY in context:
        raise ConfigurationError(
            f"the encryption context must not contain {SUBJECT_CONTEXT_KEY!r}: SubjectKeys "
            "adds it with the subject tag. Remove it from the context",
            setting="context",
            expected=f"a mapping without the key {SUBJECT_CONTEXT_KEY!r}",
            value=SUBJECT_CONTEXT_KEY,
        )
    return {**context, SUBJECT_CONTEXT_KEY: tag}


def _invalid_subject(problem: str) -> ConfigurationError:
    # The value is not echoed: subject ids may be personal data.
    return ConfigurationError(
        f"subject must be a non-empty str: {problem}",
        setting="subject",
        expected="a non-empty str such as a user id",
    )
