"""The published envelope format: an independent reader, the header length and the section cache.

The reader here follows docs/crypto-format.md. It finds fields with
:func:`crypto_support.message_regions`, derives keys with cryptography's
``HKDF`` class and opens segments with the AEAD classes. It shares no code
with the library's parser or key schedule, so these tests fail if either
drifts from the documented format.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto_support import FakeKeyProvider, message_regions
from jivs_security.crypto import _format
from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._provider import WrappedKey
from jivs_security.crypto._stream import exact_reader
from jivs_security.crypto._suite import SUITES
from jivs_security.errors import DecryptionFailed

SEGMENT = 1024
CONTEXT = {"tenant": "acme", "purpose": "invoice"}
SIZES = [0, 1, SEGMENT, 3 * SEGMENT + 5]
SUITE_NAMES = ["aes-256-gcm", "chacha20-poly1305"]

# The documented constants of format version 1.
HKDF_SALT = b"JVEF v1 data key"
HKDF_INFO = b"JVEF v1 content key and commitment, suite "
AEADS: dict[int, Callable[[bytes], AESGCM | ChaCha20Poly1305]] = {
    1: AESGCM,
    2: ChaCha20Poly1305,
}
PREFIX_BYTES = 47
# The bytes of a header besides its keys section: prefix, commitment and tag.
FIXED_BYTES = PREFIX_BYTES + 32 + 16


def open_documented(blob: bytes, provider: FakeKeyProvider, context: dict[str, str]) -> bytes:
    """Decrypt ``blob`` by following the documented layout and key schedule step by step."""
    fields = {region.name: blob[region.start : region.end] for region in message_regions(blob)}
    segments = []
    number = 0
    while f"segment {number} tag" in fields:
        segments.append((fields[f"segment {number} ciphertext"], fields[f"segment {number} tag"]))
        number += 1

    assert fields["context"] == canonical_context(context)
    wrapped = WrappedKey(
        fields["key 0 provider id"].decode("ascii"),
        fields["key 0 key id"].decode("utf-8"),
        fields["key 0 ciphertext"],
    )
    data_key = provider.unwrap(wrapped, context)

    info = HKDF_INFO + fields["suite"] + fields["message id"]
    derived = HKDF(hashes.SHA512(), 64, HKDF_SALT, info).derive(data_key)
    content_key, commitment = derived[:32], derived[32:]
    assert commitment == fields["commitment"]

    aead = AEADS[int.from_bytes(fields["suite"], "big")](content_key)
    header_end = int.from_bytes(fields["header length"], "big")
    signed = blob[: header_end - 16]
    header_nonce = b"\xff" + hashlib.sha256(signed).digest()[:11]
    assert aead.decrypt(header_nonce, fields["header tag"], signed) == b""

    plaintext = []
    for number, (ciphertext, tag) in enumerate(segments):
        final = b"\x01" if number == len(segments) - 1 else b"\x00"
        nonce = b"\x00\x00\x00" + final + number.to_bytes(8, "big")
        plaintext.append(aead.decrypt(nonce, ciphertext + tag, None))
    return b"".join(plaintext)


def plaintext_of(size: int) -> bytes:
    return bytes(index % 251 for index in range(size))


# The independent reader.


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_documented_reader_opens_message(suite: str, size: int) -> None:
    """A message from encrypt() opens with the documented key schedule and nonces."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, suite=suite, segment_size=SEGMENT)
    data = plaintext_of(size)

    blob = cipher.encrypt(data, context=CONTEXT)

    assert open_documented(blob, provider, CONTEXT) == data


@pytest.mark.parametrize("size", SIZES)
def test_documented_reader_opens_stream(size: int) -> None:
    """A message from encrypt_stream() opens with the documented reader too."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    data = plaintext_of(size)
    destination = io.BytesIO()

    cipher.encrypt_stream(io.BytesIO(data), destination, context=CONTEXT)

    assert open_documented(destination.getvalue(), provider, CONTEXT) == data


def test_documented_reader_opens_cached_key_messages() -> None:
    """Messages under one cached data key each derive their own keys as documented."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=DataKeyCache())
    blobs = [cipher.encrypt(plaintext_of(number), context=CONTEXT) for number in range(1, 4)]

    opened = [open_documented(blob, provider, CONTEXT) for blob in blobs]

    assert provider.calls["generate"] == 1
    assert opened == [plaintext_of(number) for number in range(1, 4)]


def test_documented_example_header_size() -> None:
    """The example in the format page: one local key, 19-character key id, 60-byte ciphertext."""
    provider = FakeKeyProvider("k" * 16, provider_id="local")
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)

    blob = cipher.encrypt(b"", context={"tenant": "acme"})
    info = EnvelopeCipher.inspect(blob)

    assert len(info.wrapped_keys[0].key_id) == 19
    assert len(info.wrapped_keys[0].ciphertext) == 60
    assert info.header_size == 203


# The header length.


def header_length_field(blob: bytes) -> int:
    return int.from_bytes(blob[11:15], "big")


def with_header_length(blob: bytes, length: int) -> bytes:
    return blob[:11] + struct.pack(">I", length) + blob[15:]


def test_header_length_field_matches() -> None:
    """The header length field counts every header byte, the tag included."""
    cipher = EnvelopeCipher(FakeKeyProvider(), FakeKeyProvider("b", provider_id="backup"))

    blob = cipher.encrypt(b"data", context=CONTEXT)

    assert header_length_field(blob) == EnvelopeCipher.inspect(blob).header_size


def test_section_must_end_at_commitment() -> None:
    """A byte inserted after the last wrapped key is rejected even with a matching length."""
    blob = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT).encrypt(b"data")
    length = header_length_field(blob)
    commitment_start = length - 48

    padded = blob[:commitment_start] + b"\x00" + blob[commitment_start:]
    padded = with_header_length(padded, length + 1)

    with pytest.raises(DecryptionFailed):
        EnvelopeCipher.inspect(padded)


@pytest.mark.parametrize(
    "length",
    [0, PREFIX_BYTES, FIXED_BYTES + 9, _format.MAX_HEADER_BYTES + 1, 2**32 - 1],
    ids=["zero", "prefix only", "under the minimum", "over the maximum", "maximum u32"],
)
def test_header_length_out_of_range_rejected(length: int) -> None:
    """Lengths below the smallest possible header or above the largest are rejected."""
    blob = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT).encrypt(b"data")

    with pytest.raises(DecryptionFailed):
        EnvelopeCipher.inspect(with_header_length(blob, length))


def test_smallest_header_parses() -> None:
    """The smallest header the format allows, 105 bytes, parses in both readers."""
    section = b"\x00\x02" + b"\x00\x00" + b"\x01" + b"\x00" + b"\x00\x00" + b"\x00\x00"
    prefix = b"JVEF\x01" + struct.pack(">HII", 1, SEGMENT, FIXED_BYTES + len(section))
    header = prefix + bytes(32) + section + bytes(32) + bytes(16)

    parsed = _format.parse_header(memoryview(header), frozenset(SUITES))
    streamed = _format.read_header(exact_reader(io.BytesIO(header)), frozenset(SUITES))

    assert len(header) == 105
    assert parsed.size == 105
    assert parsed.wrapped_keys == (WrappedKey("", "", b""),)
    assert streamed.signed_bytes == parsed.signed_bytes


def test_stream_reader_stops_at_forged_length() -> None:
    """A stream whose header length is over the limit is rejected after reading the prefix."""
    blob = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT).encrypt(b"data")
    forged = io.BytesIO(with_header_length(blob, _format.MAX_HEADER_BYTES + 1))
    requested: list[int] = []
    read = exact_reader(forged)

    def counting_read(count: int) -> bytes:
        requested.append(count)
        return read(count)

    with pytest.raises(DecryptionFailed):
        _format.read_header(counting_read, frozenset(SUITES))

    assert requested == [PREFIX_BYTES]


def test_stream_header_cut_short_rejected() -> None:
    """A stream that ends inside the header fails with DecryptionFailed."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context=CONTEXT)
    length = header_length_field(blob)

    for cut in (10, PREFIX_BYTES, length - 1):
        with pytest.raises(DecryptionFailed):
            cipher.decrypt_stream(io.BytesIO(blob[:cut]), io.BytesIO(), context=CONTEXT)

    assert provider.calls["unwrap"] == 0


# The section cache.


def test_messages_under_cached_key_share_section() -> None:
    """Two messages under one cached data key parse to the same shared section."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT, cache=DataKeyCache())
    first = cipher.encrypt(b"one", context=CONTEXT)
    second = cipher.encrypt(b"two", context=CONTEXT)

    first_header = _format.parse_header(memoryview(first), frozenset(SUITES))
    second_header = _format.parse_header(memoryview(second), frozenset(SUITES))

    assert first_header.section is second_header.section
    assert first_header.message_id != second_header.message_id


def test_shared_section_context_read_only() -> None:
    """The shared context cannot be changed, and Header.context returns a new dict."""
    blob = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT).encrypt(b"x", context=CONTEXT)
    header = _format.parse_header(memoryview(blob), frozenset(SUITES))

    copy = header.context
    copy["tenant"] = "other"

    with pytest.raises(TypeError):
        header.section.context["tenant"] = "other"  # type: ignore[index]
    assert header.context == CONTEXT


def test_section_cache_bounded() -> None:
    """Parsing many distinct sections keeps the cache within its entry limit."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    limit = _format._SECTIONS_MAX_ENTRIES

    for number in range(limit + 20):
        blob = cipher.encrypt(b"x", context={"record": str(number)})
        _format.parse_header(memoryview(blob), frozenset(SUITES))

    assert 0 < len(_format._sections) <= limit


def test_large_section_not_cached() -> None:
    """A section over the size limit is parsed every time and never kept."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    context = {"note": "n" * 5000}
    blob = cipher.encrypt(b"x", context=context)

    header = _format.parse_header(memoryview(blob), frozenset(SUITES))

    assert len(_format.serialize_keys_section(header.context_bytes, header.wrapped_keys)) > 4096
    assert all(section is not header.section for section in _format._sections.values())
    assert cipher.decrypt(blob, context=context) == b"x"
