"""Segment loops for streaming encryption and decryption with reused buffers."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from jivs_security.crypto._format import TAG_BYTES
from jivs_security.crypto._suite import Aead, segment_nonce
from jivs_security.errors import ConfigurationError, DecryptionFailed

__all__ = ["decrypt_segments", "encrypt_segments", "exact_reader", "write_all"]


def exact_reader(source: BinaryIO) -> Callable[[int], bytes]:
    """Return a ``read(n)`` over ``source`` that retries short reads until ``n`` bytes or EOF."""

    def read(count: int) -> bytes:
        parts = []
        remaining = count
        while remaining:
            chunk = source.read(remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    return read


def _fill(source: BinaryIO, buffer: bytearray) -> int:
    """Read into ``buffer`` until it is full or the source ends; return the bytes read."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = source.readinto(view[filled:])  # type: ignore[attr-defined]
        if count is None:
            # A non-blocking stream with no data yet; treating it as the end
            # would seal a shortened message as complete.
            raise ConfigurationError(
                "the source stream is non-blocking and had no data ready; "
                "pass a blocking file object",
                setting="source",
                expected="a blocking binary file object",
            )
        if not count:
            break
        filled += count
    return filled


def write_all(destination: BinaryIO, data: bytes | memoryview) -> None:
    """Write all of ``data``, repeating the write when a raw stream takes only part of it.

    Buffered files and ``io.BytesIO`` take everything at once, but a raw
    stream such as an unbuffered pipe or socket may return a shorter count.
    """
    view = memoryview(data)
    written = 0
    while written < len(view):
        count = destination.write(view[written:])
        if count is None:
            # A non-blocking stream that had no room: the rest would be lost.
            raise ConfigurationError(
                "the destination stream is non-blocking and accepted no data; "
                "pass a blocking file object",
                setting="destination",
                expected="a blocking binary file object",
            )
        if count <= 0:
            raise ConfigurationError(
                f"the destination stream wrote {count} of {len(view) - written} bytes; "
                "pass a file object whose write() makes progress",
                setting="destination",
                expected="a binary file object whose write() returns the bytes it wrote",
                value=count,
            )
        written += count


def encrypt_segments(
    aead: Aead, source: BinaryIO, destination: BinaryIO, segment_size: int, max_segments: int
) -> int:
    """Encrypt ``source`` in segments into ``destination``; return the ciphertext bytes written.

    One segment is read ahead, because a segment is known to be the last
    only when the source has nothing after it; a source that ends on a
    segment boundary thus ends with a full final segment, and an empty
    source yields one empty final segment.
    """
    current = bytearray(segment_size)
    ahead = bytearray(segment_size)
    output = bytearray(segment_size + TAG_BYTES)
    encrypt_into = getattr(aead, "encrypt_into", None)

    current_length = _fill(source, current)
    written = 0
    number = 0
    while True:
        ahead_length = _fill(source, ahead) if current_length == segment_size else 0
        final = ahead_length == 0
        if number >= max_segments:
            raise ConfigurationError(
                f"the stream needs more than {max_segments} segments of {segment_size} bytes; "
                "encrypt it with a larger segment_size",
                setting="segment_size",
                expected="a segment size that keeps the stream within the segment limit",
                value=segment_size,
            )

        nonce = segment_nonce(number, final=final)
        plaintext = memoryview(current)[:current_length]
        if encrypt_into is not None:
            size: int = encrypt_into(
                nonce, plaintext, None, memoryview(output)[: current_length + TAG_BYTES]
            )
            write_all(destination, memoryview(output)[:size])
        else:
            sealed = aead.encrypt(nonce, plaintext, None)
            size = len(sealed)
            write_all(destination, sealed)
        written += size

        if final:
            return written
        current, ahead = ahead, current
        current_length = ahead_length
        number += 1


def decrypt_segments(
    aead: Aead, source: BinaryIO, destination: BinaryIO, chunk_size: int, max_segments: int
) -> int:
    """Decrypt segments from ``source`` into ``destination``; return plaintext bytes written.

    Each segment is written only after its tag verified. A segment is
    decrypted as the final one exactly when nothing follows it, so a stream
    cut at a segment boundary fails: its new last segment was sealed as not
    final.
    """
    current = bytearray(chunk_size)
    ahead = bytearray(chunk_size)
    output = bytearray(chunk_size - TAG_BYTES)
    decrypt_into = getattr(aead, "decrypt_into", None)

    current_length = _fill(source, current)
    written = 0
    number = 0
    try:
        while True:
            if current_length < TAG_BYTES or number >= max_segments:
                raise DecryptionFailed
            ahead_length = _fill(source, ahead) if current_length == chunk_size else 0
            final = ahead_length == 0

            nonce = segment_nonce(number, final=final)
            sealed = memoryview(current)[:current_length]
            if decrypt_into is not None:
                size: int = decrypt_into(
                    nonce, sealed, None, memoryview(output)[: current_length - TAG_BYTES]
                )
                write_all(destination, memoryview(output)[:size])
            else:
                opened = aead.decrypt(nonce, sealed, None)
                size = len(opened)
                write_all(destination, opened)
            written += size

            if final:
                return written
            current, ahead = ahead, current
            current_length = ahead_length
            number += 1
    except InvalidTag:
        raise DecryptionFailed from None
