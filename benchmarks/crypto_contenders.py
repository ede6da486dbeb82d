"""The contenders of bench_crypto.py: EnvelopeCipher, the AWS Encryption SDK, Tink and raw AES-GCM.

Each contender encrypts and decrypts 1 KiB messages or whole streams with
the same encryption context, and each is checked to decrypt its own
ciphertext before anything is timed. Streams are encrypted from a source
that repeats one random block and decrypted from a ciphertext file, and
both go to a sink that drops what it gets, so writing costs nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import aws_encryption_sdk  # type: ignore[import-untyped]
import tink  # type: ignore[import-untyped]
from aws_encryption_sdk.identifiers import (  # type: ignore[import-untyped]
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import (  # type: ignore[import-untyped]
    WrappingKey,
)
from aws_encryption_sdk.key_providers.raw import RawMasterKey  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tink import aead as tink_aead
from tink import secret_key_access
from tink import streaming_aead as tink_streaming

from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import DEFAULT_SEGMENT_BYTES, EnvelopeCipher
from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._local import LocalKeyProvider
from jivs_security.crypto._provider import KeyProvider, WrappedKey

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

MESSAGE_BYTES = 1 * KIB
CONTEXT = {"tenant": "t-42", "purpose": "benchmark"}
CONTEXT_BYTES = canonical_context(CONTEXT)

# EnvelopeCipher's default segment size, and the segment size of the raw
# AES-GCM baseline.
SEGMENT_BYTES = DEFAULT_SEGMENT_BYTES
LARGE_SEGMENT_BYTES = 1 * MIB

# aws-encryption-sdk 4.0.7 writes frames of 4,096 plaintext bytes unless
# frame_length is given (aws_encryption_sdk.internal.defaults.FRAME_LENGTH).
SDK_DEFAULT_FRAME_BYTES = 4 * KIB

# The SDK's key-committing suite without a signature, which matches what
# EnvelopeCipher provides. Its default suite adds an ECDSA P-384 signature.
COMMITTING = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384

# Each peer is driven with the chunk sizes that were fastest in a trial on
# the benchmark machine. The SDK's streams are read one frame at a time,
# because iterating over them reads 8 KiB at a time, which was 2.8 times
# slower with 64 KiB frames and 6.6 times slower with 1 MiB frames. Tink's
# encrypting stream gets 64 KiB writes, and its decrypting stream is read
# 1 MiB at a time.
TINK_WRITE_BYTES = 64 * KIB
TINK_READ_BYTES = 1 * MIB

# The plaintext of every stream repeats one random block of this size, so a
# source keeps only the block in memory, whatever the stream's length.
PATTERN_BYTES = 1 * MIB

# Limits of both libraries' data-key caches: the DataKeyCache defaults,
# given to the SDK's caching CMM too so that both reuse a data key equally.
CACHE_MAX_AGE_SECONDS = 300.0
CACHE_MAX_MESSAGES = 4096
CACHE_MAX_BYTES = 1 * GIB
CACHE_ENTRIES = 1024

TINK_STREAM_TEMPLATES = ("AES256_GCM_HKDF_4KB", "AES256_GCM_HKDF_1MB")


# Streams.


class PatternSource(io.RawIOBase):
    """A readable stream of ``size`` bytes that repeats ``block``."""

    def __init__(self, size: int, block: bytes) -> None:
        super().__init__()
        self._block = memoryview(block)
        self._remaining = size
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        count = min(len(target), self._remaining)
        filled = 0
        while filled < count:
            piece = min(count - filled, len(self._block) - self._offset)
            target[filled : filled + piece] = self._block[self._offset : self._offset + piece]
            filled += piece
            self._offset = (self._offset + piece) % len(self._block)
        self._remaining -= count
        return count

    def read(self, size: int | None = -1) -> bytes:
        count = self._remaining if size is None or size < 0 else min(size, self._remaining)
        if self._offset + count <= len(self._block):
            # One copy, as a file read returns, when the read does not wrap.
            chunk = bytes(self._block[self._offset : self._offset + count])
            self._offset = (self._offset + count) % len(self._block)
            self._remaining -= count
            return chunk
        buffer = bytearray(count)
        self.readinto(buffer)
        return bytes(buffer)


class NullSink(io.RawIOBase):
    """A writable stream that drops what it gets and counts the bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        self.written += size
        return size


class HashingSink(NullSink):
    """A null sink that also hashes what it gets, to check decrypted output."""

    def __init__(self) -> None:
        super().__init__()
        self.digest = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return super().write(data)


class CollectingSink(io.RawIOBase):
    """A writable stream that keeps what it gets, even after it is closed."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        return len(chunk)

    def value(self) -> bytes:
        return b"".join(self._parts)


def binary(stream: io.IOBase) -> BinaryIO:
    """Return ``stream`` typed as the BinaryIO that the stream APIs take."""
    return cast(BinaryIO, stream)


# Keys.


def write_secret(path: Path, data: bytes) -> None:
    """Write a benchmark key file that only this user can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def sdk_master_key(kek: bytes, master_key_class: type[Any] = RawMasterKey) -> Any:
    """Return an SDK raw master key that wraps data keys with AES-256-GCM under ``kek``."""
    return master_key_class(
        provider_id="jivs-bench",
        key_id=b"kek-1",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=kek,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )


@dataclass(frozen=True)
class Keys:
    """Every contender's keys, created once and read from files by the child processes."""

    directory: Path
    provider: LocalKeyProvider
    sdk_kek: bytes = field(repr=False)
    raw_key: bytes = field(repr=False)
    tink_aead: Any
    tink_streaming: dict[str, Any]

    @classmethod
    def create(cls, directory: Path) -> Keys:
        LocalKeyProvider.create(directory / "keyset.json")
        write_secret(directory / "sdk-kek.bin", os.urandom(32))
        write_secret(directory / "aes-gcm-key.bin", os.urandom(32))
        templates = {"aead": tink_aead.aead_key_templates.AES256_GCM}
        for name in TINK_STREAM_TEMPLATES:
            templates[name] = getattr(tink_streaming.streaming_aead_key_templates, name)
        for name, template in templates.items():
            handle = tink.new_keyset_handle(template)
            serialized = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
            write_secret(directory / f"tink-{name}.bin", serialized)
        return cls.load(directory)

    @classmethod
    def load(cls, directory: Path) -> Keys:
        def tink_primitive(name: str, primitive_class: type[Any]) -> Any:
            serialized = (directory / f"tink-{name}.bin").read_bytes()
            handle = tink.proto_keyset_format.parse(serialized, secret_key_access.TOKEN)
            return handle.primitive(primitive_class)

        return cls(
            directory=directory,
            provider=LocalKeyProvider.open(directory / "keyset.json"),
            sdk_kek=(directory / "sdk-kek.bin").read_bytes(),
            raw_key=(directory / "aes-gcm-key.bin").read_bytes(),
            tink_aead=tink_primitive("aead", tink_aead.Aead),
            tink_streaming={
                name: tink_primitive(name, tink_streaming.StreamingAead)
                for name in TINK_STREAM_TEMPLATES
            },
        )


def register_tink() -> None:
    tink_aead.register()
    tink_streaming.register()


def sdk_client() -> Any:
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


def sdk_caching_cmm(master_key: Any) -> Any:
    return aws_encryption_sdk.CachingCryptoMaterialsManager(
        master_key_provider=master_key,
        cache=aws_encryption_sdk.LocalCryptoMaterialsCache(capacity=CACHE_ENTRIES),
        max_age=CACHE_MAX_AGE_SECONDS,
        max_messages_encrypted=CACHE_MAX_MESSAGES,
        max_bytes_encrypted=CACHE_MAX_BYTES,
    )


def sdk_algorithm_options(algorithm: Any) -> dict[str, Any]:
    """Return the encrypt options that select ``algorithm``, or none for the SDK's default suite."""
    return {} if algorithm is None else {"algorithm": algorithm}


def check_sdk_context(header: Any) -> None:
    """Raise unless an SDK message carries the benchmark's encryption context.

    EnvelopeCipher compares the context on decryption. The SDK returns it in
    the header for the caller to compare, so its decrypt contenders do that.
    Signed suites add the key ``aws-crypto-public-key``.
    """
    carried = header.encryption_context
    if any(carried.get(key) != value for key, value in CONTEXT.items()):
        raise RuntimeError("the SDK message does not carry the benchmark's encryption context")


# Stream contenders.


class StreamCodec(Protocol):
    """One way to encrypt a plaintext stream and decrypt its ciphertext, each into a sink."""

    def encrypt(self, source: io.RawIOBase, sink: io.IOBase) -> None: ...

    def decrypt(self, source: io.BufferedIOBase, sink: io.IOBase) -> None: ...


class EnvelopeStreams:
    """EnvelopeCipher.encrypt_stream and decrypt_stream."""

    def __init__(self, cipher: EnvelopeCipher) -> None:
        self._cipher = cipher

    def encrypt(self, source: io.RawIOBase, sink: io.IOBase) -> None:
        self._cipher.encrypt_stream(binary(source), binary(sink), context=CONTEXT)

    def decrypt(self, source: io.BufferedIOBase, sink: io.IOBase) -> None:
        self._cipher.decrypt_stream(binary(source), binary(sink), context=CONTEXT)


class SdkStreams:
    """The SDK's stream() in encrypt and decrypt mode, read one frame at a time."""

    def __init__(self, master_key: Any, algorithm: Any, frame_bytes: int) -> None:
        self._client = sdk_client()
        self._master_key = master_key
        self._options = sdk_algorithm_options(algorithm)
        self._frame_bytes = frame_bytes

    def encrypt(self, source: io.RawIOBase, sink: io.IOBase) -> None:
        with self._client.stream(
            mode="e",
            source=source,
            key_provider=self._master_key,
            encryption_context=CONTEXT,
            frame_length=self._frame_bytes,
            **self._options,
        ) as encryptor:
            while chunk := encryptor.read(self._frame_bytes):
                sink.write(chunk)

    def decrypt(self, source: io.BufferedIOBase, sink: io.IOBase) -> None:
        with self._client.stream(
            mode="d", source=source, key_provider=self._master_key
        ) as decryptor:
            check_sdk_context(decryptor.header)
            while chunk := decryptor.read(self._frame_bytes):
                sink.write(chunk)


class TinkStreams:
    """Tink's streaming AEAD: written in 64 KiB chunks, read in 1 MiB chunks."""

    def __init__(self, primitive: Any) -> None:
        self._primitive = primitive

    def encrypt(self, source: io.RawIOBase, sink: io.IOBase) -> None:
        buffer = bytearray(TINK_WRITE_BYTES)
        view = memoryview(buffer)
        # Closing the encrypting stream writes the last segment and closes the sink.
        with self._primitive.new_encrypting_stream(sink, CONTEXT_BYTES) as encrypting:
            while count := source.readinto(buffer):
                encrypting.write(view[:count])

    def decrypt(self, source: io.BufferedIOBase, sink: io.IOBase) -> None:
        with self._primitive.new_decrypting_stream(source, CONTEXT_BYTES) as decrypting:
            while chunk := decrypting.read(TINK_READ_BYTES):
                sink.write(chunk)


class RawGcmStreams:
    """AES-256-GCM over fixed segments with counter nonces: no header, key or framing."""

    _NONCE = struct.Struct(">4xQ")

    def __init__(self, key: bytes, segment_bytes: int) -> None:
        self._aead = AESGCM(key)
        self._segment_bytes = segment_bytes

    def encrypt(self, source: io.RawIOBase, sink: io.IOBase) -> None:
        plaintext = bytearray(self._segment_bytes)
        sealed = memoryview(bytearray(self._segment_bytes + 16))
        number = 0
        while count := source.readinto(plaintext):
            nonce = self._NONCE.pack(number)
            size = self._aead.encrypt_into(
                nonce, memoryview(plaintext)[:count], None, sealed[: count + 16]
            )
            sink.write(sealed[:size])
            number += 1

    def decrypt(self, source: io.BufferedIOBase, sink: io.IOBase) -> None:
        sealed = bytearray(self._segment_bytes + 16)
        plaintext = memoryview(bytearray(self._segment_bytes))
        number = 0
        while count := source.readinto(sealed):
            nonce = self._NONCE.pack(number)
            size = self._aead.decrypt_into(
                nonce, memoryview(sealed)[:count], None, plaintext[: count - 16]
            )
            sink.write(plaintext[:size])
            number += 1


@dataclass(frozen=True)
class StreamSpec:
    """A stream contender: its name in keys and file names, its label, and how to build it."""

    name: str
    label: str
    build: Callable[[Keys], StreamCodec]
    sdk: bool = False


def _sdk_spec(name: str, label: str, algorithm: Any, frame_bytes: int) -> StreamSpec:
    return StreamSpec(
        name,
        label,
        lambda keys: SdkStreams(sdk_master_key(keys.sdk_kek), algorithm, frame_bytes),
        sdk=True,
    )


STREAM_SPECS = (
    StreamSpec(
        "jivs-64k",
        "EnvelopeCipher, 64 KiB segments",
        lambda keys: EnvelopeStreams(EnvelopeCipher(keys.provider)),
    ),
    StreamSpec(
        "jivs-1m",
        "EnvelopeCipher, 1 MiB segments",
        lambda keys: EnvelopeStreams(
            EnvelopeCipher(keys.provider, segment_size=LARGE_SEGMENT_BYTES)
        ),
    ),
    # None selects the SDK's default suite, which under the default
    # commitment policy is AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384.
    _sdk_spec(
        "sdk-signed-4k",
        "SDK defaults: signed suite, 4 KiB frames",
        None,
        SDK_DEFAULT_FRAME_BYTES,
    ),
    _sdk_spec("sdk-signed-64k", "SDK signed suite, 64 KiB frames", None, 64 * KIB),
    _sdk_spec(
        "sdk-commit-4k",
        "SDK committing suite, 4 KiB frames",
        COMMITTING,
        SDK_DEFAULT_FRAME_BYTES,
    ),
    _sdk_spec("sdk-commit-64k", "SDK committing suite, 64 KiB frames", COMMITTING, 64 * KIB),
    _sdk_spec("sdk-commit-1m", "SDK committing suite, 1 MiB frames", COMMITTING, 1 * MIB),
    StreamSpec(
        "tink-4kb",
        "Tink AES256_GCM_HKDF_4KB",
        lambda keys: TinkStreams(keys.tink_streaming["AES256_GCM_HKDF_4KB"]),
    ),
    StreamSpec(
        "tink-1mb",
        "Tink AES256_GCM_HKDF_1MB",
        lambda keys: TinkStreams(keys.tink_streaming["AES256_GCM_HKDF_1MB"]),
    ),
    StreamSpec(
        "aes-gcm-64k",
        "raw AESGCM, 64 KiB segments",
        lambda keys: RawGcmStreams(keys.raw_key, SEGMENT_BYTES),
    ),
)
STREAM_SPECS_BY_NAME = {spec.name: spec for spec in STREAM_SPECS}


def ciphertext_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.ciphertext"


def pattern_digest(size: int, block: bytes) -> str:
    sink = HashingSink()
    source = PatternSource(size, block)
    while chunk := source.read(MIB):
        sink.write(chunk)
    return sink.digest.hexdigest()


@dataclass(frozen=True)
class StreamFacts:
    """The size of one stream contender's ciphertext, checked before timing."""

    name: str
    label: str
    ciphertext_bytes: int
    overhead_bytes: int


def prepare_stream(
    spec: StreamSpec,
    codec: StreamCodec,
    directory: Path,
    *,
    size: int,
    block: bytes,
    expected_digest: str,
) -> StreamFacts:
    """Encrypt the stream into its ciphertext file and check that it decrypts to the source."""
    path = ciphertext_path(directory, spec.name)
    with path.open("wb") as file:
        codec.encrypt(PatternSource(size, block), file)
    sink = HashingSink()
    with path.open("rb") as file:
        codec.decrypt(file, sink)
    if sink.written != size or sink.digest.hexdigest() != expected_digest:
        raise RuntimeError(f"{spec.label}: the decrypted stream differs from the source")
    ciphertext_bytes = path.stat().st_size
    return StreamFacts(spec.name, spec.label, ciphertext_bytes, ciphertext_bytes - size)


# Message contenders.


@dataclass(frozen=True)
class MessageCodec:
    """Encrypt and decrypt callables for 1 KiB messages. ``decrypt`` opens one fixed message."""

    name: str
    label: str
    encrypt: Callable[[], bytes]
    decrypt: Callable[[], bytes]


def envelope_messages(
    name: str, label: str, cipher: EnvelopeCipher, message: bytes
) -> MessageCodec:
    def encrypt() -> bytes:
        return cipher.encrypt(message, context=CONTEXT)

    blob = encrypt()

    def decrypt() -> bytes:
        return cipher.decrypt(blob, context=CONTEXT)

    return MessageCodec(name, label, encrypt, decrypt)


def sdk_messages(
    name: str, label: str, material: Mapping[str, Any], algorithm: Any, message: bytes
) -> MessageCodec:
    """Build SDK message callables. ``material`` is ``key_provider`` or ``materials_manager``."""
    client = sdk_client()
    options = sdk_algorithm_options(algorithm)

    def encrypt() -> bytes:
        ciphertext, _ = client.encrypt(
            source=message, encryption_context=CONTEXT, **material, **options
        )
        return cast(bytes, ciphertext)

    blob, header = client.encrypt(source=message, encryption_context=CONTEXT, **material, **options)
    expected = COMMITTING if algorithm is not None else SIGNED
    if header.algorithm != expected:
        raise RuntimeError(f"{label}: the SDK used suite {header.algorithm.name}")

    def decrypt() -> bytes:
        plaintext, decrypted_header = client.decrypt(source=blob, **material)
        check_sdk_context(decrypted_header)
        return cast(bytes, plaintext)

    return MessageCodec(name, label, encrypt, decrypt)


def tink_aead_messages(primitive: Any, message: bytes) -> MessageCodec:
    def encrypt() -> bytes:
        return cast(bytes, primitive.encrypt(message, CONTEXT_BYTES))

    blob = encrypt()

    def decrypt() -> bytes:
        return cast(bytes, primitive.decrypt(blob, CONTEXT_BYTES))

    return MessageCodec("tink-aead", "Tink AEAD AES256_GCM", encrypt, decrypt)


def tink_stream_messages(name: str, label: str, primitive: Any, message: bytes) -> MessageCodec:
    def encrypt() -> bytes:
        sink = CollectingSink()
        with primitive.new_encrypting_stream(sink, CONTEXT_BYTES) as encrypting:
            encrypting.write(message)
        return sink.value()

    blob = encrypt()

    def decrypt() -> bytes:
        with primitive.new_decrypting_stream(io.BytesIO(blob), CONTEXT_BYTES) as decrypting:
            return cast(bytes, decrypting.read())

    return MessageCodec(name, label, encrypt, decrypt)


def message_codecs(keys: Keys, message: bytes) -> list[MessageCodec]:
    """Build every 1 KiB message contender and check that each decrypts its own ciphertext."""
    master_key = sdk_master_key(keys.sdk_kek)
    codecs = [
        envelope_messages(
            "jivs", "EnvelopeCipher, no cache", EnvelopeCipher(keys.provider), message
        ),
        envelope_messages(
            "jivs-cached",
            "EnvelopeCipher, DataKeyCache",
            EnvelopeCipher(keys.provider, cache=new_data_key_cache()),
            message,
        ),
        sdk_messages(
            "sdk-commit",
            "SDK committing suite",
            {"key_provider": master_key},
            COMMITTING,
            message,
        ),
        sdk_messages(
            "sdk-commit-cached",
            "SDK committing suite, caching CMM",
            {"materials_manager": sdk_caching_cmm(master_key)},
            COMMITTING,
            message,
        ),
        sdk_messages(
            "sdk-signed", "SDK default signed suite", {"key_provider": master_key}, None, message
        ),
        sdk_messages(
            "sdk-signed-cached",
            "SDK default signed suite, caching CMM",
            {"materials_manager": sdk_caching_cmm(master_key)},
            None,
            message,
        ),
        tink_aead_messages(keys.tink_aead, message),
        tink_stream_messages(
            "tink-stream-4kb",
            "Tink streaming AES256_GCM_HKDF_4KB",
            keys.tink_streaming["AES256_GCM_HKDF_4KB"],
            message,
        ),
        tink_stream_messages(
            "tink-stream-1mb",
            "Tink streaming AES256_GCM_HKDF_1MB",
            keys.tink_streaming["AES256_GCM_HKDF_1MB"],
            message,
        ),
    ]
    for codec in codecs:
        if codec.decrypt() != message:
            raise RuntimeError(f"{codec.label}: the decrypted message differs")
    return codecs


def new_data_key_cache() -> DataKeyCache:
    return DataKeyCache(
        max_age=CACHE_MAX_AGE_SECONDS,
        max_messages=CACHE_MAX_MESSAGES,
        max_bytes=CACHE_MAX_BYTES,
        max_entries=CACHE_ENTRIES,
    )


# Counting key-service calls.


class CountingProvider:
    """A key provider that counts the calls it passes on to another provider."""

    def __init__(self, inner: KeyProvider) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def provider_id(self) -> str:
        return self._inner.provider_id

    def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        self.calls["wrap"] += 1
        return self._inner.wrap(data_key, context)

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        self.calls["unwrap"] += 1
        return self._inner.unwrap(wrapped, context)

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        self.calls["generate"] += 1
        return self._inner.generate(context)

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        self.calls["rewrap"] += 1
        return self._inner.rewrap(wrapped, context)

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        return self._inner.can_unwrap(wrapped)


class CountingRawMasterKey(RawMasterKey):  # type: ignore[misc]
    """An SDK raw master key that counts data-key generation, wrapping and unwrapping.

    The SDK's generate wraps the new key with its own wrap method, which is
    not counted again.
    """

    calls: Counter[str]
    _generating: bool

    def _generate_data_key(self, algorithm: Any, encryption_context: Any) -> Any:
        self.calls["generate"] += 1
        self._generating = True
        try:
            return super()._generate_data_key(algorithm, encryption_context)
        finally:
            self._generating = False

    def _encrypt_data_key(self, data_key: Any, algorithm: Any, encryption_context: Any) -> Any:
        if not self._generating:
            self.calls["wrap"] += 1
        return super()._encrypt_data_key(data_key, algorithm, encryption_context)

    def _decrypt_data_key(
        self, encrypted_data_key: Any, algorithm: Any, encryption_context: Any
    ) -> Any:
        self.calls["unwrap"] += 1
        return super()._decrypt_data_key(encrypted_data_key, algorithm, encryption_context)


def counting_master_key(kek: bytes) -> CountingRawMasterKey:
    master_key = cast(CountingRawMasterKey, sdk_master_key(kek, CountingRawMasterKey))
    master_key.calls = Counter()
    master_key._generating = False
    return master_key
