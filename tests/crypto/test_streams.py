"""Streaming encryption and the segment sequence: round trips, cuts, reordering, splicing.

The attacks on the segment sequence run against both decryptors, in memory
and streaming, which must agree. Streaming decryption may release verified
segments before it fails; the tests check that nothing else is released.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import pytest

from crypto_support import Failure, FakeKeyProvider, flip, split_message
from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

SEGMENT = 1024
TAG = 16
CONTEXT = {"tenant": "acme"}
SUITE_NAMES = ["aes-256-gcm", "chacha20-poly1305"]
SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5]

# Two full segments and a short final one.
THREE_SEGMENTS = 2 * SEGMENT + 100


class RecordingWriter(io.BytesIO):
    """A BytesIO that records the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: ReadableBuffer) -> int:
        """Write ``data`` and record its size."""
        size = super().write(data)
        self.writes.append(size)
        return size


class TrickleReader(io.RawIOBase):
    """A readable stream that returns at most ``step`` bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._offset = 0
        self._step = step

    def readable(self) -> bool:
        """Return True: this stream is readable."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Copy at most ``step`` bytes into ``buffer``."""
        target = memoryview(buffer).cast("B")
        size = min(len(target), self._step, len(self._data) - self._offset)
        target[:size] = self._data[self._offset : self._offset + size]
        self._offset += size
        return size


@pytest.fixture
def provider() -> FakeKeyProvider:
    """The provider that generates data keys."""
    return FakeKeyProvider()


@pytest.fixture
def cipher(provider: FakeKeyProvider) -> EnvelopeCipher:
    """A cipher with 1,024-byte segments."""
    return EnvelopeCipher(provider, segment_size=SEGMENT)


def encrypt_streaming(cipher: EnvelopeCipher, data: bytes) -> bytes:
    """Encrypt ``data`` with encrypt_stream and return the message."""
    destination = io.BytesIO()
    cipher.encrypt_stream(io.BytesIO(data), destination, context=CONTEXT)
    return destination.getvalue()


def decrypt_streaming(cipher: EnvelopeCipher, blob: bytes) -> bytes:
    """Decrypt ``blob`` with decrypt_stream and return the plaintext."""
    destination = io.BytesIO()
    cipher.decrypt_stream(io.BytesIO(blob), destination, context=CONTEXT)
    return destination.getvalue()


def decrypt_in_memory(cipher: EnvelopeCipher, blob: bytes) -> bytes:
    """Decrypt ``blob`` with decrypt."""
    return cipher.decrypt(blob, context=CONTEXT)


Decryptor = Callable[[EnvelopeCipher, bytes], bytes]
DECRYPTORS = [
    pytest.param(decrypt_in_memory, id="memory"),
    pytest.param(decrypt_streaming, id="stream"),
]


# Round trips and compatibility with whole-message encryption.


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_stream_round_trip(provider: FakeKeyProvider, suite: str, size: int) -> None:
    """Every plaintext size around the segment boundaries streams back to itself."""
    cipher = EnvelopeCipher(provider, suite=suite, segment_size=SEGMENT)
    data = os.urandom(size)

    blob = encrypt_streaming(cipher, data)

    assert decrypt_streaming(cipher, blob) == data


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_stream_length_matches_memory(provider: FakeKeyProvider, suite: str, size: int) -> None:
    """Both encryptors write the same number of bytes, and encrypt_stream returns it."""
    cipher = EnvelopeCipher(provider, suite=suite, segment_size=SEGMENT)
    data = os.urandom(size)
    destination = io.BytesIO()

    written = cipher.encrypt_stream(io.BytesIO(data), destination, context=CONTEXT)

    assert written == len(destination.getvalue())
    assert written == len(cipher.encrypt(data, context=CONTEXT))


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_stream_output_decrypts_in_memory(provider: FakeKeyProvider, suite: str, size: int) -> None:
    """A message written by encrypt_stream decrypts with decrypt."""
    cipher = EnvelopeCipher(provider, suite=suite, segment_size=SEGMENT)
    data = os.urandom(size)

    blob = encrypt_streaming(cipher, data)

    assert cipher.decrypt(blob, context=CONTEXT) == data


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_memory_output_decrypts_streaming(provider: FakeKeyProvider, suite: str, size: int) -> None:
    """A message written by encrypt decrypts with decrypt_stream."""
    cipher = EnvelopeCipher(provider, suite=suite, segment_size=SEGMENT)
    data = os.urandom(size)

    blob = cipher.encrypt(data, context=CONTEXT)

    assert decrypt_streaming(cipher, blob) == data


def test_decrypt_stream_returns_length(cipher: EnvelopeCipher) -> None:
    """decrypt_stream returns the number of plaintext bytes written."""
    blob = cipher.encrypt(b"x" * THREE_SEGMENTS, context=CONTEXT)

    written = cipher.decrypt_stream(io.BytesIO(blob), io.BytesIO(), context=CONTEXT)

    assert written == THREE_SEGMENTS


@pytest.mark.parametrize("step", [1, 7, SEGMENT + 3])
def test_short_reads_round_trip(cipher: EnvelopeCipher, step: int) -> None:
    """Sources that return fewer bytes than asked are read until they end."""
    data = os.urandom(THREE_SEGMENTS)
    encrypted = io.BytesIO()
    decrypted = io.BytesIO()

    cipher.encrypt_stream(cast(BinaryIO, TrickleReader(data, step)), encrypted, context=CONTEXT)
    sealed = cast(BinaryIO, TrickleReader(encrypted.getvalue(), step))
    cipher.decrypt_stream(sealed, decrypted, context=CONTEXT)

    assert decrypted.getvalue() == data


class TrickleWriter(io.RawIOBase):
    """A raw destination that takes at most ``step`` bytes per write, as a pipe may."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self._step = step
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        """Keep the first ``step`` bytes of ``data`` and return how many were kept."""
        accepted = memoryview(data).cast("B")[: self._step]
        self.data += accepted
        return len(accepted)


class StalledWriter(io.RawIOBase):
    """A raw destination that never accepts a byte: it returns ``result`` from write."""

    def __init__(self, result: int | None) -> None:
        super().__init__()
        self._result = result

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int | None:
        """Accept nothing."""
        return self._result


@pytest.mark.parametrize("step", [1, 100, SEGMENT + 3])
def test_short_writes_round_trip(cipher: EnvelopeCipher, step: int) -> None:
    """Destinations that take fewer bytes than given get the rest in further writes."""
    data = os.urandom(THREE_SEGMENTS)
    encrypted = TrickleWriter(step)
    decrypted = TrickleWriter(step)

    sealed_size = cipher.encrypt_stream(
        io.BytesIO(data), cast(BinaryIO, encrypted), context=CONTEXT
    )
    opened_size = cipher.decrypt_stream(
        io.BytesIO(bytes(encrypted.data)), cast(BinaryIO, decrypted), context=CONTEXT
    )

    assert sealed_size == len(encrypted.data)
    assert opened_size == len(data)
    assert bytes(decrypted.data) == data


@pytest.mark.parametrize("result", [None, 0], ids=["non-blocking", "no progress"])
@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_stalled_destination_rejected(
    cipher: EnvelopeCipher, result: int | None, direction: str
) -> None:
    """A destination that accepts nothing raises ConfigurationError instead of losing data."""
    blob = cipher.encrypt(b"data", context=CONTEXT)
    destination = cast(BinaryIO, StalledWriter(result))

    if direction == "encrypt":
        source, run = io.BytesIO(b"data"), cipher.encrypt_stream
    else:
        source, run = io.BytesIO(blob), cipher.decrypt_stream

    with pytest.raises(ConfigurationError, match="destination stream"):
        run(source, destination, context=CONTEXT)


def test_file_round_trip(cipher: EnvelopeCipher, tmp_path: Path) -> None:
    """Buffered files on disk work as source and destination."""
    data = os.urandom(THREE_SEGMENTS)
    (tmp_path / "plain").write_bytes(data)

    with (tmp_path / "plain").open("rb") as source, (tmp_path / "sealed").open("wb") as sink:
        cipher.encrypt_stream(source, sink, context=CONTEXT)
    with (tmp_path / "sealed").open("rb") as source, (tmp_path / "opened").open("wb") as sink:
        cipher.decrypt_stream(source, sink, context=CONTEXT)

    assert (tmp_path / "opened").read_bytes() == data


def test_stream_writes_whole_segments(cipher: EnvelopeCipher) -> None:
    """Each write to the destination is one whole segment, the header first when encrypting."""
    encrypted = RecordingWriter()
    decrypted = RecordingWriter()

    cipher.encrypt_stream(io.BytesIO(bytes(THREE_SEGMENTS)), encrypted, context=CONTEXT)
    cipher.decrypt_stream(io.BytesIO(encrypted.getvalue()), decrypted, context=CONTEXT)

    header_size = EnvelopeCipher.inspect(encrypted.getvalue()).header_size
    assert encrypted.writes == [header_size, SEGMENT + TAG, SEGMENT + TAG, 100 + TAG]
    assert decrypted.writes == [SEGMENT, SEGMENT, 100]


# A key provider that fails before anything is written.


@pytest.mark.parametrize("failing", ["generator", "second provider"])
def test_unavailable_leaves_destination_empty(failing: str) -> None:
    """When a data key cannot be made or wrapped, nothing is read or written."""
    generator, second = FakeKeyProvider("primary"), FakeKeyProvider("backup")
    (generator if failing == "generator" else second).fail(Failure.UNAVAILABLE)
    cipher = EnvelopeCipher(generator, second, segment_size=SEGMENT)
    source = io.BytesIO(b"data" * 1000)
    destination = io.BytesIO()

    with pytest.raises(KeyUnavailable):
        cipher.encrypt_stream(source, destination, context=CONTEXT)

    assert destination.getvalue() == b""
    assert source.tell() == 0


def test_header_failure_writes_nothing(cipher: EnvelopeCipher) -> None:
    """A header that fails to verify releases no plaintext."""
    blob = cipher.encrypt(b"x" * THREE_SEGMENTS, context=CONTEXT)
    destination = RecordingWriter()

    with pytest.raises(DecryptionFailed):
        cipher.decrypt_stream(io.BytesIO(blob), destination, context={"tenant": "other"})

    assert destination.writes == []


# Cuts: empty input, inside the header, at a segment boundary, inside a segment.


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_empty_input_rejected(cipher: EnvelopeCipher, decrypt: Decryptor) -> None:
    """No bytes at all is not a message."""
    with pytest.raises(DecryptionFailed):
        decrypt(cipher, b"")


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_cut_inside_header_rejected(cipher: EnvelopeCipher, decrypt: Decryptor) -> None:
    """Every prefix of the header, the whole header alone included, is rejected."""
    blob = cipher.encrypt(b"data", context=CONTEXT)
    header_size = EnvelopeCipher.inspect(blob).header_size

    accepted = []
    for length in range(header_size + 1):
        try:
            decrypt(cipher, blob[:length])
        except DecryptionFailed:
            continue
        accepted.append(length)

    assert accepted == []


@pytest.mark.parametrize("size", [THREE_SEGMENTS, 2 * SEGMENT])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_cut_at_boundary_rejected(cipher: EnvelopeCipher, decrypt: Decryptor, size: int) -> None:
    """Dropping the final segment fails, because the new last one was sealed as not final."""
    header, segments = split_message(cipher.encrypt(os.urandom(size), context=CONTEXT))

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, header + b"".join(segments[:-1]))


@pytest.mark.parametrize("cut", [1, TAG - 1, TAG, SEGMENT, SEGMENT + TAG + 1, SEGMENT + TAG + 50])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_cut_inside_segment_rejected(cipher: EnvelopeCipher, decrypt: Decryptor, cut: int) -> None:
    """A body cut short anywhere inside a segment is rejected; ``cut`` is bytes of body kept."""
    blob = cipher.encrypt(os.urandom(THREE_SEGMENTS), context=CONTEXT)
    header_size = EnvelopeCipher.inspect(blob).header_size

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, blob[: header_size + cut])


@pytest.mark.parametrize("removed", [1, 16, 17])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_cut_final_segment_rejected(
    cipher: EnvelopeCipher, decrypt: Decryptor, removed: int
) -> None:
    """Removing the last bytes of the final segment is rejected."""
    blob = cipher.encrypt(os.urandom(THREE_SEGMENTS), context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, blob[:-removed])


# Reordered, repeated, dropped and foreign segments, and junk after the end.

SEQUENCES = {
    "swapped": [1, 0, 2],
    "first repeated": [0, 0, 1, 2],
    "middle repeated": [0, 1, 1, 2],
    "final repeated": [0, 1, 2, 2],
    "middle dropped": [0, 2],
    "first dropped": [1, 2],
}


@pytest.mark.parametrize("order", SEQUENCES.values(), ids=SEQUENCES.keys())
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_reordered_segments_rejected(
    cipher: EnvelopeCipher, decrypt: Decryptor, order: list[int]
) -> None:
    """Segments out of their sealed order, repeated or missing are rejected."""
    header, segments = split_message(cipher.encrypt(os.urandom(THREE_SEGMENTS), context=CONTEXT))

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, header + b"".join(segments[number] for number in order))


def test_cached_messages_share_data_key(provider: FakeKeyProvider) -> None:
    """With a cache, two messages carry the same wrapped data key: the splice tests need it."""
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=DataKeyCache())

    first = cipher.encrypt(bytes(THREE_SEGMENTS), context=CONTEXT)
    second = cipher.encrypt(bytes(THREE_SEGMENTS), context=CONTEXT)

    assert EnvelopeCipher.inspect(first).wrapped_keys == EnvelopeCipher.inspect(second).wrapped_keys
    assert provider.calls == {"generate": 1}


@pytest.mark.parametrize("shared_key", [True, False], ids=["same data key", "other data key"])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_spliced_segment_rejected(
    provider: FakeKeyProvider, decrypt: Decryptor, shared_key: bool
) -> None:
    """A segment from another message fails, even one under the same data key.

    Each message derives its own content key from the data key and its
    random message id, so a segment sealed for one message does not open
    in another even at the same position.
    """
    cache = DataKeyCache() if shared_key else None
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=cache)
    data = bytes(THREE_SEGMENTS)
    header, segments = split_message(cipher.encrypt(data, context=CONTEXT))
    _, foreign = split_message(cipher.encrypt(data, context=CONTEXT))

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, header + segments[0] + foreign[1] + segments[2])


@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_spliced_body_rejected(provider: FakeKeyProvider, decrypt: Decryptor) -> None:
    """One message's header with another's whole body fails under a shared data key."""
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=DataKeyCache())
    header, _ = split_message(cipher.encrypt(bytes(THREE_SEGMENTS), context=CONTEXT))
    _, body = split_message(cipher.encrypt(bytes(THREE_SEGMENTS), context=CONTEXT))

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, header + b"".join(body))


JUNK = {
    "one byte": b"\x00",
    "a tag's worth": bytes(TAG),
    "a whole segment": os.urandom(SEGMENT + TAG),
}


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
@pytest.mark.parametrize("size", [THREE_SEGMENTS, 2 * SEGMENT])
@pytest.mark.parametrize("decrypt", DECRYPTORS)
def test_appended_junk_rejected(
    cipher: EnvelopeCipher, decrypt: Decryptor, size: int, junk: bytes
) -> None:
    """Bytes after the final segment are rejected, whether the final segment is full or short."""
    blob = cipher.encrypt(os.urandom(size), context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        decrypt(cipher, blob + junk)


# What decrypt_stream releases before it fails.


def stream_until_failure(cipher: EnvelopeCipher, blob: bytes) -> RecordingWriter:
    """Run decrypt_stream on ``blob``, expect DecryptionFailed and return the destination."""
    destination = RecordingWriter()
    with pytest.raises(DecryptionFailed):
        cipher.decrypt_stream(io.BytesIO(blob), destination, context=CONTEXT)
    return destination


def test_tampered_middle_releases_prefix(cipher: EnvelopeCipher) -> None:
    """A bad second segment stops the stream after the first, verified one."""
    data = os.urandom(THREE_SEGMENTS)
    header, segments = split_message(cipher.encrypt(data, context=CONTEXT))

    destination = stream_until_failure(
        cipher, header + segments[0] + flip(segments[1], 3, 1) + segments[2]
    )

    assert destination.getvalue() == data[:SEGMENT]


def test_tampered_final_never_released(cipher: EnvelopeCipher) -> None:
    """A bad final segment is not written, but the segments before it are."""
    data = os.urandom(THREE_SEGMENTS)
    blob = cipher.encrypt(data, context=CONTEXT)

    destination = stream_until_failure(cipher, flip(blob, -TAG - 1, 1))

    assert destination.getvalue() == data[: 2 * SEGMENT]
    assert destination.writes == [SEGMENT, SEGMENT]


def test_truncated_final_never_released(cipher: EnvelopeCipher) -> None:
    """Without its final segment, the segment that became last is not released either."""
    data = os.urandom(THREE_SEGMENTS)
    header, segments = split_message(cipher.encrypt(data, context=CONTEXT))

    destination = stream_until_failure(cipher, header + segments[0] + segments[1])

    assert destination.getvalue() == data[:SEGMENT]


def test_every_flip_releases_verified_only(cipher: EnvelopeCipher) -> None:
    """For any flipped byte, what was written is whole segments before the flip, never all."""
    data = os.urandom(THREE_SEGMENTS)
    blob = cipher.encrypt(data, context=CONTEXT)
    header_size = EnvelopeCipher.inspect(blob).header_size

    wrong = []
    for offset in range(len(blob)):
        destination = stream_until_failure(cipher, flip(blob, offset, 1))
        segments_before = max(0, (offset - header_size) // (SEGMENT + TAG))
        if destination.getvalue() != data[: SEGMENT * segments_before]:
            wrong.append(offset)

    assert wrong == []
