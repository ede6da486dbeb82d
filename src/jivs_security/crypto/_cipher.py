"""EnvelopeCipher: encrypt under fresh data keys wrapped by one or more key providers."""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag

from jivs_security.crypto import _format, _stream
from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._context import canonical_context, str_pairs
from jivs_security.crypto._format import MESSAGE_ID_BYTES, TAG_BYTES, Header
from jivs_security.crypto._provider import KeyProvider, WrappedKey
from jivs_security.crypto._suite import (
    DATA_KEY_BYTES,
    SUITES,
    Aead,
    KeySchedule,
    Suite,
    header_nonce,
    segment_nonce,
    suite_by_name,
)
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

__all__ = ["EnvelopeCipher", "MessageInfo"]

logger = logging.getLogger("jivs_security.crypto")

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024

# Segments per message, each one AES-GCM invocation under the message's
# content key. NIST SP 800-38D, section 8.3, caps invocations at 2**32 for
# random IVs. The counter nonces here would allow more, so this bound is
# conservative; it still covers 256 TiB at the default segment size.
MAX_SEGMENTS: Final = 2**32

_SUITE_IDS: Final = frozenset(SUITES)

# The nonce of a message's only segment, which is also its final one.
_ONLY_SEGMENT_NONCE: Final = segment_nonce(0, final=True)

# Serialised key sections kept per context for messages under cached data
# keys. It is cleared when full, which bounds it at this many sections.
_MAX_KEYS_SECTIONS: Final = 64


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """The fields of a message's header, read without any key, for audits and key rotation."""

    suite: str
    segment_size: int
    context: dict[str, str]
    wrapped_keys: tuple[WrappedKey, ...]
    header_size: int

    @property
    def key_ids(self) -> tuple[tuple[str, str], ...]:
        """The (provider id, key id) pairs that can decrypt the message."""
        return tuple((wrapped.provider_id, wrapped.key_id) for wrapped in self.wrapped_keys)


class EnvelopeCipher:
    """Encrypts messages and streams under data keys wrapped by key providers.

    Each message gets a data key from the first provider, wrapped also by
    every further provider, so any one of them can decrypt it (for example a
    local keyset and Vault Transit, for disaster recovery). The content key
    and a key commitment are derived from the data key with HKDF; the body
    is AES-256-GCM (``suite="aes-256-gcm"``, the default) or
    ChaCha20-Poly1305 in segments of ``segment_size`` plaintext bytes.

    ``context`` is a mapping of strings that is authenticated but not
    encrypted; decryption must present exactly the same mapping. ``cache``
    (off by default) lets messages share a wrapped data key within limits,
    which saves key-service calls.
    """

    def __init__(
        self,
        provider: KeyProvider,
        *more_providers: KeyProvider,
        suite: str = "aes-256-gcm",
        segment_size: int = DEFAULT_SEGMENT_BYTES,
        cache: DataKeyCache | None = None,
    ) -> None:
        self._providers = (provider, *more_providers)

        if len(self._providers) > _format.MAX_WRAPPED_KEYS:
            raise ConfigurationError(
                f"{len(self._providers)} key providers, over the limit of "
                f"{_format.MAX_WRAPPED_KEYS} wrapped keys a header may hold",
                setting="provider",
                expected=f"at most {_format.MAX_WRAPPED_KEYS} key providers",
                value=len(self._providers),
            )
        for candidate in self._providers:
            if not isinstance(candidate, KeyProvider):
                raise ConfigurationError(
                    f"{type(candidate).__name__} is not a key provider",
                    setting="provider",
                    expected="objects implementing jivs_security.crypto.KeyProvider",
                    value=type(candidate).__name__,
                )

        self._suite = suite_by_name(suite)
        if not (
            isinstance(segment_size, int)
            and _format.MIN_SEGMENT_BYTES <= segment_size <= _format.MAX_SEGMENT_BYTES
        ):
            raise ConfigurationError(
                f"segment_size must be from {_format.MIN_SEGMENT_BYTES} to "
                f"{_format.MAX_SEGMENT_BYTES} bytes, got {segment_size!r}",
                setting="segment_size",
                expected="bytes per segment",
                value=segment_size,
            )
        self._segment_size = segment_size

        self._cache = cache
        # Scopes this cipher's entries in a shared cache. Unlike id(self),
        # the object lives as long as the entries that refer to it, so a
        # later cipher with other providers can never take them over.
        self._cache_scope = object()
        # Maps context bytes to the last wrapped keys cached for them and
        # their serialised header section, which messages under one cached
        # data key share.
        self._keys_sections: dict[bytes, tuple[tuple[WrappedKey, ...], bytes]] = {}

    def __repr__(self) -> str:
        providers = ", ".join(repr(provider) for provider in self._providers)
        return (
            f"EnvelopeCipher(providers=[{providers}], suite={self._suite.name!r}, "
            f"segment_size={self._segment_size})"
        )

    @property
    def providers(self) -> tuple[KeyProvider, ...]:
        """The key providers, the first of which generates data keys."""
        return self._providers

    # Whole messages.

    def encrypt(self, data: bytes, *, context: Mapping[str, str] | None = None) -> bytes:
        """Encrypt ``data`` and return the message: header and body."""
        context_bytes = canonical_context(context)
        plaintext = memoryview(data).cast("B")
        size = self._segment_size
        if len(plaintext) > MAX_SEGMENTS * size:
            raise ConfigurationError(
                f"{len(plaintext)} bytes need more than {MAX_SEGMENTS} segments of {size} "
                "bytes; encrypt them with a larger segment_size",
                setting="segment_size",
                expected="a segment size that keeps the message within the segment limit",
                value=size,
            )
        schedule, wrapped_keys = self._data_key(context or {}, context_bytes, len(plaintext))
        header, aead = self._new_header(schedule, context_bytes, wrapped_keys)

        if len(plaintext) <= size:
            return header + aead.encrypt(_ONLY_SEGMENT_NONCE, plaintext, None)
        parts = [header]
        last = max(0, (len(plaintext) - 1) // size)
        for number in range(last + 1):
            chunk = plaintext[number * size : (number + 1) * size]
            parts.append(aead.encrypt(segment_nonce(number, final=number == last), chunk, None))
        return b"".join(parts)

    def decrypt(self, blob: bytes, *, context: Mapping[str, str] | None = None) -> bytes:
        """Decrypt a message; raise :class:`DecryptionFailed` for any mismatch or damage."""
        view = memoryview(blob).cast("B")
        header = _format.parse_header(view, _SUITE_IDS)
        aead = self._open_header(header, context)

        body = view[header.size :]
        chunk_size = self._chunk_size(header)
        if TAG_BYTES <= len(body) <= chunk_size:
            try:
                return aead.decrypt(_ONLY_SEGMENT_NONCE, body, None)
            except InvalidTag:
                raise DecryptionFailed from None
        if not body:
            raise DecryptionFailed
        last = (len(body) - 1) // chunk_size
        if last >= MAX_SEGMENTS:
            raise DecryptionFailed
        parts = []
        try:
            for number in range(last + 1):
                chunk = body[number * chunk_size : (number + 1) * chunk_size]
                if len(chunk) < TAG_BYTES:
                    raise DecryptionFailed
                nonce = segment_nonce(number, final=number == last)
                parts.append(aead.decrypt(nonce, chunk, None))
        except InvalidTag:
            raise DecryptionFailed from None
        return b"".join(parts)

    # Streams.

    def encrypt_stream(
        self, source: BinaryIO, destination: BinaryIO, *, context: Mapping[str, str] | None = None
    ) -> int:
        """Encrypt everything ``source`` yields into ``destination``; return bytes written.

        Memory use is a few segments whatever the stream's length. The data
        key is obtained before anything is written, so a key provider that
        is down leaves ``destination`` untouched.
        """
        context_bytes = canonical_context(context)
        schedule, wrapped_keys = self._fresh_data_key(context or {})
        header, aead = self._new_header(schedule, context_bytes, wrapped_keys)
        _stream.write_all(destination, header)
        return len(header) + _stream.encrypt_segments(
            aead, source, destination, self._segment_size, MAX_SEGMENTS
        )

    def decrypt_stream(
        self, source: BinaryIO, destination: BinaryIO, *, context: Mapping[str, str] | None = None
    ) -> int:
        """Decrypt a stream into ``destination``; return plaintext bytes written.

        Only segments that verified are written. If the stream is cut short,
        reordered or spliced, :class:`DecryptionFailed` is raised, and what
        was written before it must be discarded by the caller: the final
        segment never verified.
        """
        header = _format.read_header(_stream.exact_reader(source), _SUITE_IDS)
        aead = self._open_header(header, context)
        return _stream.decrypt_segments(
            aead, source, destination, self._chunk_size(header), MAX_SEGMENTS
        )

    # Rotation.

    def rewrap(self, blob: bytes) -> bytes:
        """Re-wrap the message's data keys under each provider's current key version.

        The body is copied unchanged and is not verified. The header tag
        depends on the data key, so one unwrap call is made besides each
        provider's rewrap call, and the old header's commitment and tag are
        verified before anything is rewrapped: a tampered header raises
        :class:`DecryptionFailed`. Wrapped keys of providers this cipher does
        not hold are kept as they are.
        """
        view = memoryview(blob).cast("B")
        header = _format.parse_header(view, _SUITE_IDS)
        aead = self._verify_header(header, *self._unwrap(header))
        context = header.context

        renewed = []
        for wrapped in header.wrapped_keys:
            provider = self._provider_for(wrapped)
            renewed.append(provider.rewrap(wrapped, context) if provider else wrapped)

        unsigned = _format.serialize_unsigned(
            suite=header.suite,
            segment_size=header.segment_size,
            message_id=header.message_id,
            section=_format.serialize_keys_section(header.context_bytes, tuple(renewed)),
            commitment=header.commitment,
        )
        tag = aead.encrypt(header_nonce(unsigned), b"", unsigned)
        logger.debug(
            "message rewrapped keys=%s",
            ",".join(f"{w.provider_id}:{w.key_id}" for w in renewed),
        )
        return unsigned + tag + bytes(view[header.size :])

    @staticmethod
    def inspect(blob: bytes) -> MessageInfo:
        """Read a message's header without decrypting: suite, context and wrapped key ids.

        Nothing here is authenticated until the message is decrypted; use it
        to find which key versions are still in use, not to make access
        decisions.
        """
        view = memoryview(blob).cast("B")
        header = _format.parse_header(view, _SUITE_IDS)
        return MessageInfo(
            suite=SUITES[header.suite].name,
            segment_size=header.segment_size,
            context=header.context,
            wrapped_keys=header.wrapped_keys,
            header_size=header.size,
        )

    # Keys and headers.

    def _data_key(
        self, context: Mapping[str, str], context_bytes: bytes, plaintext_bytes: int
    ) -> tuple[KeySchedule, tuple[WrappedKey, ...]]:
        if self._cache is None:
            return self._fresh_data_key(context)
        cache_key = ("encrypt", self._cache_scope, context_bytes)
        cached = self._cache.take_for_encryption(cache_key, plaintext_bytes)
        if cached is not None:
            return cached
        schedule, wrapped_keys = self._fresh_data_key(context)
        self._cache.put_for_encryption(cache_key, schedule, wrapped_keys, plaintext_bytes)
        return schedule, wrapped_keys

    def _fresh_data_key(
        self, context: Mapping[str, str]
    ) -> tuple[KeySchedule, tuple[WrappedKey, ...]]:
        first, *others = self._providers
        data_key, wrapped = first.generate(context)
        if not isinstance(data_key, bytes) or len(data_key) != DATA_KEY_BYTES:
            # A shorter key would silently weaken every message under it.
            returned = (
                f"{len(data_key)} bytes"
                if isinstance(data_key, bytes)
                else f"a {type(data_key).__name__}"
            )
            raise ConfigurationError(
                f"key provider {first!r} returned {returned} as a data key, but data keys "
                f"are {DATA_KEY_BYTES} bytes; fix the provider's generate()",
                setting="provider",
                expected=f"a provider whose generate() returns {DATA_KEY_BYTES} bytes",
            )
        wrapped_keys = (wrapped, *(provider.wrap(data_key, context) for provider in others))
        return KeySchedule(data_key), wrapped_keys

    def _new_header(
        self, schedule: KeySchedule, context_bytes: bytes, wrapped_keys: tuple[WrappedKey, ...]
    ) -> tuple[bytes, Aead]:
        message_id = os.urandom(MESSAGE_ID_BYTES)
        content_key, commitment = schedule.message_keys(message_id, self._suite)
        unsigned = _format.serialize_unsigned(
            suite=self._suite.suite_id,
            segment_size=self._segment_size,
            message_id=message_id,
            section=self._keys_section(context_bytes, wrapped_keys),
            commitment=commitment,
        )
        aead = self._suite.aead(content_key)
        return unsigned + aead.encrypt(header_nonce(unsigned), b"", unsigned), aead

    def _keys_section(self, context_bytes: bytes, wrapped_keys: tuple[WrappedKey, ...]) -> bytes:
        if self._cache is None:
            return _format.serialize_keys_section(context_bytes, wrapped_keys)
        # The identity check matches only the tuple that the data key cache
        # returned. The entry keeps a reference to it, so its id is never reused.
        entry = self._keys_sections.get(context_bytes)
        if entry is not None and entry[0] is wrapped_keys:
            return entry[1]
        section = _format.serialize_keys_section(context_bytes, wrapped_keys)
        if len(self._keys_sections) >= _MAX_KEYS_SECTIONS:
            self._keys_sections.clear()
        self._keys_sections[context_bytes] = (wrapped_keys, section)
        return section

    def _open_header(self, header: Header, context: Mapping[str, str] | None) -> Aead:
        # The context is compared before any key service is called, which
        # saves a call for a mismatch and gives the same error as a bad tag.
        _check_context(header, context)
        return self._verify_header(header, *self._unwrap(header))

    @staticmethod
    def _verify_header(header: Header, content_key: bytes, commitment: bytes) -> Aead:
        if not hmac.compare_digest(commitment, header.commitment):
            raise DecryptionFailed
        aead = SUITES[header.suite].aead(content_key)
        try:
            aead.decrypt(header_nonce(header.signed_bytes), header.tag, header.signed_bytes)
        except InvalidTag:
            raise DecryptionFailed from None
        return aead

    def _unwrap(self, header: Header) -> tuple[bytes, bytes]:
        """Derive the content key and commitment from the first wrapped key a provider can open.

        A wrapped key that does not authenticate, or yields a key whose
        commitment differs, is skipped in favour of the next one. When none
        works, :class:`KeyUnavailable` is raised if any provider could not
        be reached or could not use its key, because that provider might
        still open the message later. Otherwise :class:`DecryptionFailed`
        is raised. The cache is consulted only for wrapped keys that one of
        this cipher's providers has, so a shared cache never opens a
        message for a cipher that has none of its keys.
        """
        suite: Suite = SUITES[header.suite]
        unavailable: list[KeyUnavailable] = []
        provider_found = False
        for wrapped in header.wrapped_keys:
            # can_unwrap may call the key service (AWS KMS resolves an alias
            # once), so an outage there is handled like one in unwrap: the
            # next wrapped key is tried.
            try:
                provider = self._provider_for(wrapped)
            except KeyUnavailable as error:
                unavailable.append(error)
                continue
            if provider is None:
                continue
            provider_found = True
            # The context is part of the key because the provider binds the
            # wrapped key to it: under another context, unwrap would fail.
            cache_key = (
                "decrypt",
                wrapped.provider_id,
                wrapped.key_id,
                wrapped.ciphertext,
                header.context_bytes,
            )
            cached = self._cache.get_for_decryption(cache_key) if self._cache else None
            if cached is not None:
                derived = cached.message_keys(header.message_id, suite)
                # Skipped like an unwrapped key with another commitment, so
                # a warm cache decides exactly as a cold one.
                if hmac.compare_digest(derived[1], header.commitment):
                    return derived
                continue
            try:
                data_key = provider.unwrap(wrapped, header.context)
            except KeyUnavailable as error:
                unavailable.append(error)
                continue
            except DecryptionFailed:
                continue
            schedule = KeySchedule(data_key)
            derived = schedule.message_keys(header.message_id, suite)
            if not hmac.compare_digest(derived[1], header.commitment):
                continue
            if self._cache is not None:
                self._cache.put_for_decryption(cache_key, schedule)
            return derived

        if unavailable:
            # Prefer an outage that may pass, so a caller does not give up on
            # a message that another attempt could open.
            raise next((error for error in unavailable if error.retryable), unavailable[-1])
        if not provider_found:
            # Raised as DecryptionFailed like any other mismatch, because the
            # key ids may have been altered. The warning gives the operator the ids.
            logger.warning(
                "no configured key provider has a key for this message keys=%s",
                ",".join(f"{w.provider_id}:{w.key_id}" for w in header.wrapped_keys),
            )
        raise DecryptionFailed

    def _provider_for(self, wrapped: WrappedKey) -> KeyProvider | None:
        for provider in self._providers:
            if provider.provider_id == wrapped.provider_id and provider.can_unwrap(wrapped):
                return provider
        return None

    @staticmethod
    def _chunk_size(header: Header) -> int:
        return header.segment_size + TAG_BYTES


def _check_context(header: Header, context: Mapping[str, str] | None) -> None:
    """Raise :class:`DecryptionFailed` unless ``context`` is the header's context.

    The context is public, so it is compared in variable time. A plain dict
    of exact ``str`` equal to the header's parsed context has the same
    canonical form, which spares serialising it. Any other argument is
    serialised and compared as bytes, and an invalid one raises
    :class:`ConfigurationError`.
    """
    if context is None and not header.section.context:
        return
    if str_pairs(context) is not None and context == header.section.context:
        return
    if canonical_context(context) != header.context_bytes:
        raise DecryptionFailed
