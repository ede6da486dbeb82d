"""Attacks on the envelope header parser, its caches and the context check.

Each test feeds one kind of hostile or unusual input. The parser gets
forged header lengths and mutated messages, read by both readers, and its
caches get warmed by earlier inputs. The context check gets objects whose
equality or hash lies. Threads share key schedules and caches, keyset
changes are observed through ``LocalKeyProvider.can_unwrap``, floods of
distinct inputs test the cache bounds, and rewrapped messages are reopened.

Some forged messages need a valid header tag. :func:`seal` writes them from
a known data key by following docs/crypto-format.md with cryptography's
HKDF class. Such a test shows what a sender holding that data key could
make, and a check that the parser skipped would let the message open.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import io
import os
import struct
import sys
from collections import OrderedDict, UserString
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crypto_support import ContextDict, ContextView, FakeKeyProvider, flip, message_regions
from jivs_security.crypto import _context, _format
from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import EnvelopeCipher
from jivs_security.crypto._context import canonical_context
from jivs_security.crypto._format import Header
from jivs_security.crypto._local import KeyVersionState, LocalKeyProvider
from jivs_security.crypto._provider import WrappedKey
from jivs_security.crypto._suite import SUITES, KeySchedule
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyRingError

SEGMENT = 1024
CONTEXT = {"tenant": "acme", "purpose": "invoice"}
SUITE_NAMES = ["aes-256-gcm", "chacha20-poly1305"]
SUITE_IDS = frozenset(SUITES)

# The documented layout and key schedule of format version 1.
PREFIX = struct.Struct(">4sBHII32s")
HKDF_SALT = b"JVEF v1 data key"
HKDF_INFO = b"JVEF v1 content key and commitment, suite "
AEADS: dict[int, Callable[[bytes], AESGCM | ChaCha20Poly1305]] = {1: AESGCM, 2: ChaCha20Poly1305}
# The smallest header: an empty context and one wrapped key with empty fields.
MIN_HEADER_BYTES = PREFIX.size + 8 + 32 + 16


# Building messages, well-formed or forged.


def plaintext_of(size: int) -> bytes:
    return bytes(index % 251 for index in range(size))


def derive(data_key: bytes, suite: int, message_id: bytes) -> tuple[bytes, bytes]:
    """Return the content key and the commitment of one message, as documented."""
    info = HKDF_INFO + suite.to_bytes(2, "big") + message_id
    output = HKDF(hashes.SHA512(), 64, HKDF_SALT, info).derive(data_key)
    return output[:32], output[32:]


def keys_section(context_bytes: bytes, wrapped_keys: list[WrappedKey]) -> bytes:
    """Serialise a keys section from the documented layout, with the context bytes as given."""
    parts = [struct.pack(">H", len(context_bytes)), context_bytes, bytes([len(wrapped_keys)])]
    for wrapped in wrapped_keys:
        provider_id = wrapped.provider_id.encode("ascii")
        key_id = wrapped.key_id.encode("utf-8")
        parts += [
            bytes([len(provider_id)]),
            provider_id,
            struct.pack(">H", len(key_id)),
            key_id,
            struct.pack(">H", len(wrapped.ciphertext)),
            wrapped.ciphertext,
        ]
    return b"".join(parts)


def seal(data_key: bytes, section: bytes, plaintext: bytes, *, suite: int = 1) -> bytes:
    """Return a message around the keys section ``section``, sealed under ``data_key``.

    The header length field counts the section as given, and the header tag
    and the segments are valid for ``data_key``, whatever the section holds.
    """
    message_id = os.urandom(32)
    content_key, commitment = derive(data_key, suite, message_id)
    length = PREFIX.size + len(section) + 32 + 16
    signed = PREFIX.pack(b"JVEF", 1, suite, SEGMENT, length, message_id) + section + commitment
    aead = AEADS[suite](content_key)
    tag = aead.encrypt(b"\xff" + hashlib.sha256(signed).digest()[:11], b"", signed)

    chunks = [plaintext[start : start + SEGMENT] for start in range(0, len(plaintext), SEGMENT)]
    chunks = chunks or [b""]
    segments = []
    for number, chunk in enumerate(chunks):
        final = b"\x01" if number == len(chunks) - 1 else b"\x00"
        segments.append(
            aead.encrypt(b"\x00\x00\x00" + final + number.to_bytes(8, "big"), chunk, None)
        )
    return signed + tag + b"".join(segments)


def header_length_field(blob: bytes) -> int:
    return int.from_bytes(blob[11:15], "big")


def with_header_length(blob: bytes, length: int) -> bytes:
    return blob[:11] + struct.pack(">I", length) + blob[15:]


def header_of(blob: bytes) -> Header:
    return _format.parse_header(memoryview(blob), SUITE_IDS)


# Reading messages, with every failure turned into a value to compare.


def open_in_memory(cipher: EnvelopeCipher, blob: bytes, context: Mapping[str, str]) -> bytes | None:
    """Return the plaintext from ``decrypt``, or None when it raises DecryptionFailed."""
    try:
        return cipher.decrypt(blob, context=context)
    except DecryptionFailed:
        return None


def open_streaming(cipher: EnvelopeCipher, blob: bytes, context: Mapping[str, str]) -> bytes | None:
    """Return the plaintext from ``decrypt_stream``, or None when it raises DecryptionFailed."""
    destination = io.BytesIO()
    try:
        cipher.decrypt_stream(io.BytesIO(blob), destination, context=context)
    except DecryptionFailed:
        return None
    return destination.getvalue()


def parse_or_none(blob: bytes) -> Header | None:
    """Return the parsed header, or None when parsing raises DecryptionFailed."""
    try:
        return header_of(blob)
    except DecryptionFailed:
        return None


def parse_cold(blob: bytes, monkeypatch: pytest.MonkeyPatch) -> Header | None:
    """Parse ``blob`` with empty section and context caches, as the first parse of a process."""
    with monkeypatch.context() as patch:
        patch.setattr(_format, "_sections", {})
        patch.setattr(_context, "_parsed", {})
        return parse_or_none(blob)


def mutations(blob: bytes) -> dict[str, bytes]:
    """Return small changes of a well-formed message, each named by what it changes.

    Every header byte is flipped in its lowest and highest bit. Each field
    is cut before, shortened by its first byte and lengthened by a zero
    byte. The header length field is set to the start of every field and
    to values around the true length and the limits, and bytes are appended.
    """
    header_size = header_length_field(blob)
    changed: dict[str, bytes] = {}
    for offset in range(header_size):
        for mask in (0x01, 0x80):
            changed[f"flip {mask:#04x} at byte {offset}"] = flip(blob, offset, mask)

    regions = message_regions(blob)
    for region in regions:
        start = region.start
        changed[f"cut before {region.name}"] = blob[:start]
        changed[f"zero byte before {region.name}"] = blob[:start] + b"\x00" + blob[start:]
        if region.end > start:
            changed[f"first byte of {region.name} dropped"] = blob[:start] + blob[start + 1 :]
            changed[f"first byte of {region.name} flipped"] = flip(blob, start, 0x01)
            changed[f"last byte of {region.name} flipped"] = flip(blob, region.end - 1, 0x01)

    lengths = {region.start for region in regions} | {
        0,
        PREFIX.size,
        MIN_HEADER_BYTES - 1,
        MIN_HEADER_BYTES,
        header_size - 1,
        header_size + 1,
        header_size - 16,
        header_size + 16,
        header_size + 48,
        len(blob),
        len(blob) + 1,
        _format.MAX_HEADER_BYTES,
        _format.MAX_HEADER_BYTES + 1,
        2**32 - 1,
    }
    for length in sorted(lengths - {header_size}):
        changed[f"header length {length}"] = with_header_length(blob, length)

    changed["zero byte appended"] = blob + b"\x00"
    changed["empty tag appended"] = blob + bytes(16)
    return changed


@pytest.fixture
def cold_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give this test empty section, parsed-context and canonical-context caches."""
    monkeypatch.setattr(_format, "_sections", {})
    monkeypatch.setattr(_context, "_parsed", {})
    monkeypatch.setattr(_context, "_canonical", {})


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Let threads switch every microsecond, so a race shows up within a short test."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.fixture
def local(tmp_path: Path) -> LocalKeyProvider:
    """A new keyset file without a passphrase: version 1, primary."""
    return LocalKeyProvider.create(tmp_path / "keyset.json")


# Forged header lengths.


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_only_true_length_parses(suite: str) -> None:
    """Of every header length up to a segment past the true one, only the true length parses."""
    cipher = EnvelopeCipher(FakeKeyProvider(), suite=suite, segment_size=SEGMENT)
    blob = cipher.encrypt(plaintext_of(SEGMENT + 1), context=CONTEXT)
    true_length = header_length_field(blob)
    candidates = range(true_length + SEGMENT + 64)

    in_memory = [n for n in candidates if parse_or_none(with_header_length(blob, n)) is not None]
    streamed = []
    for length in candidates:
        source = io.BytesIO(with_header_length(blob, length))
        try:
            _format.read_header(source.read, SUITE_IDS)
        except DecryptionFailed:
            continue
        streamed.append(length)

    assert in_memory == [true_length]
    assert streamed == [true_length]


def test_tagged_padded_section_rejected() -> None:
    """A section with a byte after its last key is rejected even under a valid header tag."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    data_key, wrapped = provider.generate(CONTEXT)
    section = keys_section(canonical_context(CONTEXT), [wrapped])
    genuine = seal(data_key, section, b"data")
    padded = seal(data_key, section + b"\x00", b"data")

    assert cipher.decrypt(genuine, context=CONTEXT) == b"data"
    assert open_in_memory(cipher, padded, CONTEXT) is None
    assert open_streaming(cipher, padded, CONTEXT) is None
    with pytest.raises(DecryptionFailed):
        cipher.rewrap(padded)


def test_overlong_ciphertext_field_rejected() -> None:
    """A last ciphertext whose length runs into the commitment is rejected, not cut short."""
    provider = FakeKeyProvider()
    data_key, wrapped = provider.generate(CONTEXT)
    section = keys_section(canonical_context(CONTEXT), [wrapped])
    # The ciphertext length is the 2 bytes before the ciphertext, at the section's end.
    length_at = len(section) - len(wrapped.ciphertext) - 2
    overlong = struct.pack(">H", len(wrapped.ciphertext) + 1)
    forged = section[:length_at] + overlong + section[length_at + 2 :]

    with pytest.raises(DecryptionFailed):
        EnvelopeCipher.inspect(seal(data_key, forged, b"data"))


# Non-canonical contexts in the header, each equal as a dict to {"a": "1", "b": "2"}.
# A parser that accepted them would let the plain dict comparison pass them.
NON_CANONICAL_CONTEXTS = {
    "pairs out of order": b"\x00\x02" + b"\x00\x01b\x00\x012" + b"\x00\x01a\x00\x011",
    "repeated key": b"\x00\x03"
    + b"\x00\x01a\x00\x010"
    + b"\x00\x01a\x00\x011"
    + b"\x00\x01b\x00\x012",
    "trailing byte": b"\x00\x02" + b"\x00\x01a\x00\x011" + b"\x00\x01b\x00\x012" + b"\x00",
}


@pytest.mark.parametrize(
    "context_bytes", NON_CANONICAL_CONTEXTS.values(), ids=NON_CANONICAL_CONTEXTS.keys()
)
def test_tagged_non_canonical_context_rejected(context_bytes: bytes) -> None:
    """A header context in another encoding of the same pairs fails, even under a valid tag."""
    context = {"a": "1", "b": "2"}
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    data_key, wrapped = provider.generate(context)
    genuine = seal(data_key, keys_section(canonical_context(context), [wrapped]), b"data")
    forged = seal(data_key, keys_section(context_bytes, [wrapped]), b"data")

    assert cipher.decrypt(genuine, context=context) == b"data"
    assert open_in_memory(cipher, forged, context) is None
    assert open_streaming(cipher, forged, context) is None


# The stream reader against the in-memory reader.


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", [0, SEGMENT, 2 * SEGMENT + 3])
def test_readers_agree_on_mutations(suite: str, size: int) -> None:
    """decrypt and decrypt_stream both reject every small change of a two-key message."""
    cipher = EnvelopeCipher(
        FakeKeyProvider(),
        FakeKeyProvider("backup", provider_id="backup"),
        suite=suite,
        segment_size=SEGMENT,
    )
    data = plaintext_of(size)
    blob = cipher.encrypt(data, context=CONTEXT)

    results = {
        label: (open_in_memory(cipher, changed, CONTEXT), open_streaming(cipher, changed, CONTEXT))
        for label, changed in mutations(blob).items()
    }

    assert open_in_memory(cipher, blob, CONTEXT) == data
    assert open_streaming(cipher, blob, CONTEXT) == data
    assert [label for label, (memory, stream) in results.items() if memory != stream] == []
    assert [label for label, (memory, _) in results.items() if memory is not None] == []


@functools.cache
def sample_message(suite: str) -> bytes:
    """Return one two-segment message per suite, shared by the examples of a property test."""
    cipher = EnvelopeCipher(FakeKeyProvider(), suite=suite, segment_size=SEGMENT)
    return cipher.encrypt(plaintext_of(SEGMENT + 100), context=CONTEXT)


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_readers_agree_on_random_edits(data: st.DataObject) -> None:
    """Any overwritten or replaced byte range, with any header length, fails in both readers."""
    suite = data.draw(st.sampled_from(SUITE_NAMES))
    blob = sample_message(suite)
    # Half the offsets fall in or just after the header, where the parser works.
    header_end = header_length_field(blob)
    start = data.draw(st.integers(0, header_end + 64) | st.integers(0, len(blob)))
    replacement = data.draw(st.binary(min_size=1, max_size=64))
    if data.draw(st.booleans()):
        edited = blob[:start] + replacement + blob[start + len(replacement) :]
    else:
        end = data.draw(st.integers(start, min(len(blob), start + 64)))
        edited = blob[:start] + replacement + blob[end:]
    length = data.draw(st.none() | st.integers(0, 400) | st.integers(0, 2**32 - 1))
    if length is not None and len(edited) >= PREFIX.size:
        edited = with_header_length(edited, length)
    assume(edited != blob)
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)

    in_memory = open_in_memory(cipher, edited, CONTEXT)
    streamed = open_streaming(cipher, edited, CONTEXT)

    assert in_memory == streamed
    assert in_memory is None


# The section cache.


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_warm_parse_matches_cold(suite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the true section is cached, every mutation parses as it would with empty caches."""
    cipher = EnvelopeCipher(
        FakeKeyProvider(), FakeKeyProvider("backup", provider_id="backup"), suite=suite
    )
    blob = cipher.encrypt(b"data", context=CONTEXT)
    header_of(blob)

    differing = []
    for label, changed in mutations(blob).items():
        # The second parse finds the mutated section itself in the cache.
        warm = [parse_or_none(changed), parse_or_none(changed)]
        cold = parse_cold(changed, monkeypatch)
        if warm != [cold, cold]:
            differing.append(label)

    assert differing == []


def test_cached_section_keeps_own_prefix() -> None:
    """Two messages sharing a cached section keep their own suite and message id."""
    provider = FakeKeyProvider()
    first = EnvelopeCipher(provider, suite="aes-256-gcm", segment_size=SEGMENT)
    blob = first.encrypt(b"data", context=CONTEXT)
    original = header_of(blob)
    data_key = provider.unwrap(original.wrapped_keys[0], CONTEXT)
    section = keys_section(original.context_bytes, list(original.wrapped_keys))
    same_section = seal(data_key, section, b"data", suite=2)

    header = header_of(same_section)

    assert header.section is original.section
    assert header.suite == 2
    assert header.message_id != original.message_id
    assert first.decrypt(same_section, context=CONTEXT) == b"data"


def test_caller_changes_leave_cache_intact(cold_caches: None) -> None:
    """Changing the dicts that inspect and providers receive does not change later parses."""

    class ClearingProvider(FakeKeyProvider):
        """Clears every context it is given, after using it."""

        def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
            data_key = super().unwrap(wrapped, context)
            if isinstance(context, dict):
                context.clear()
            return data_key

    cipher = EnvelopeCipher(ClearingProvider(), segment_size=SEGMENT)
    # Copies, so a provider that clears what it gets cannot clear CONTEXT.
    blob = cipher.encrypt(b"data", context=dict(CONTEXT))
    EnvelopeCipher.inspect(blob).context.clear()
    header_of(blob).context.clear()

    first = cipher.decrypt(blob, context=dict(CONTEXT))
    second = cipher.decrypt(blob, context=dict(CONTEXT))

    assert first == b"data"
    assert second == b"data"
    assert header_of(blob).context == CONTEXT


# The context check: dicts, other mappings and objects that lie about equality.


class AlwaysEqualDict(dict[str, str]):
    """A dict subclass whose equality claims to match anything."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None


class AlwaysEqualText(str):
    """A str whose equality claims to match anything, as a buggy caller might pass."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return str.__hash__(self)


class AcmeLookalike(str):
    """A str that hashes like ``"acme"`` and claims to equal anything, whatever its text."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("acme")


# The str mixin rather than StrEnum, because str() of such a member is its
# name, not its text, so a serialiser that called str() would be caught.
class Tenant(str, enum.Enum):  # noqa: UP042
    """A str enum whose member names differ from their values."""

    ACME = "acme"


MAPPING_TYPES: dict[str, Callable[[dict[str, str]], Mapping[str, str]]] = {
    "dict": dict,
    "mapping proxy": MappingProxyType,
    "ordered dict": OrderedDict,
    "dict subclass": ContextDict,
    "mapping": ContextView,
}


@pytest.mark.parametrize("written", MAPPING_TYPES.values(), ids=MAPPING_TYPES.keys())
@pytest.mark.parametrize("read", MAPPING_TYPES.values(), ids=MAPPING_TYPES.keys())
def test_mapping_types_interchangeable(
    written: Callable[[dict[str, str]], Mapping[str, str]],
    read: Callable[[dict[str, str]], Mapping[str, str]],
) -> None:
    """A context written as one mapping type opens as any other, and other pairs fail."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context=written(dict(CONTEXT)))

    assert cipher.decrypt(blob, context=read(dict(CONTEXT))) == b"data"
    assert open_in_memory(cipher, blob, read({**CONTEXT, "tenant": "other"})) is None
    assert open_in_memory(cipher, blob, read({})) is None


EMPTY_CONTEXTS: dict[str, Mapping[str, str] | None] = {
    "none": None,
    "dict": {},
    "mapping proxy": MappingProxyType({}),
    "ordered dict": OrderedDict(),
}


@pytest.mark.parametrize("written", EMPTY_CONTEXTS.values(), ids=EMPTY_CONTEXTS.keys())
@pytest.mark.parametrize("read", EMPTY_CONTEXTS.values(), ids=EMPTY_CONTEXTS.keys())
def test_empty_contexts_interchangeable(
    written: Mapping[str, str] | None, read: Mapping[str, str] | None
) -> None:
    """None and every empty mapping are one context, and a single empty value is another."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context=written)

    assert cipher.decrypt(blob, context=read) == b"data"
    assert open_in_memory(cipher, blob, {"tenant": ""}) is None


def test_lying_dict_subclass_rejected() -> None:
    """A dict subclass that claims equality is compared by its pairs, and other pairs fail."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context=AlwaysEqualDict(tenant="evil"))


def test_lying_str_value_rejected() -> None:
    """A context value whose text differs fails even if its __eq__ claims a match."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context={"tenant": "acme"})

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context={"tenant": AlwaysEqualText("evil")})


def test_user_string_rejected_on_decrypt() -> None:
    """A UserString value is invalid on decryption as it is on encryption."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context={"tenant": "acme"})
    context: dict[str, str] = {"tenant": UserString("acme")}  # type: ignore[dict-item]

    with pytest.raises(ConfigurationError):
        cipher.decrypt(blob, context=context)


def canonical_or_error(context: Mapping[str, str]) -> bytes | str:
    """Return the canonical bytes, or the name of the error class canonical_context raises."""
    try:
        return canonical_context(context)
    except ConfigurationError as error:
        return type(error).__name__


@pytest.mark.parametrize(
    "value",
    [UserString("acme"), AcmeLookalike("evil")],
    ids=["user string", "str lookalike"],
)
def test_canonical_cache_ignores_lookalikes(value: str, cold_caches: None) -> None:
    """A value that hashes and compares like a cached str serialises as if nothing were cached."""
    context = {"tenant": value}
    cold = canonical_or_error(context)
    canonical_context({"tenant": "acme"})

    warm = canonical_or_error(context)

    assert warm == cold


def test_enum_values_match_plain_text() -> None:
    """A str enum value is its text: it opens messages written with the plain str, and back."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    with_enum: dict[str, str] = {"tenant": Tenant.ACME}
    plain = {"tenant": "acme"}

    from_enum = cipher.encrypt(b"data", context=with_enum)
    from_plain = cipher.encrypt(b"data", context=plain)

    assert cipher.decrypt(from_enum, context=plain) == b"data"
    assert cipher.decrypt(from_plain, context=with_enum) == b"data"
    assert EnvelopeCipher.inspect(from_enum).context == plain


def test_context_changed_after_encrypt_rejected() -> None:
    """A dict changed after encryption no longer opens the message, with every cache warm."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT, cache=DataKeyCache())
    context = dict(CONTEXT)
    blob = cipher.encrypt(b"data", context=context)
    cipher.decrypt(blob, context=context)

    context["tenant"] = "other"

    assert open_in_memory(cipher, blob, context) is None
    assert open_streaming(cipher, blob, context) is None


def test_changed_context_gets_new_data_key() -> None:
    """With a data key cache, a dict changed between messages gets a data key of its own."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=DataKeyCache())
    context = dict(CONTEXT)
    before = cipher.encrypt(b"one", context=context)

    context["tenant"] = "other"
    after = cipher.encrypt(b"two", context=context)

    assert provider.calls["generate"] == 2
    assert header_of(before).wrapped_keys != header_of(after).wrapped_keys
    assert cipher.decrypt(after, context={**CONTEXT, "tenant": "other"}) == b"two"


INVALID_DECRYPT_CONTEXTS: dict[str, object] = {
    "unhashable value": {"tenant": ["acme"]},
    "unhashable value in a mapping proxy": MappingProxyType({"tenant": ["acme"]}),
    "too many pairs": {f"key{number:02}": "" for number in range(65)},
    "too many bytes": {"tenant": "a" * 8192},
    "bytes value": {"tenant": b"acme"},
}


@pytest.mark.parametrize(
    "context", INVALID_DECRYPT_CONTEXTS.values(), ids=INVALID_DECRYPT_CONTEXTS.keys()
)
def test_invalid_context_on_decrypt(context: Mapping[str, str]) -> None:
    """An invalid context raises ConfigurationError on decryption, before any unwrap call."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context={"tenant": "acme"})

    with pytest.raises(ConfigurationError) as caught:
        cipher.decrypt(blob, context=context)

    assert caught.value.setting == "context"
    assert provider.calls["unwrap"] == 0


# The decryption cache: a cached key must change no outcome.


def two_key_forgery() -> tuple[FakeKeyProvider, FakeKeyProvider, bytes, bytes]:
    """Return two providers, a message and a forgery whose first wrapped key is another message's.

    The forgery is sealed under the second message's data key and carries
    the first message's wrapped key for provider ``a`` before the second
    message's own wrapped key for provider ``b``.
    """
    first_provider = FakeKeyProvider("a", provider_id="a")
    second_provider = FakeKeyProvider("b", provider_id="b")
    writer = EnvelopeCipher(first_provider, second_provider, segment_size=SEGMENT)
    first = writer.encrypt(b"one", context=CONTEXT)
    second = writer.encrypt(b"two", context=CONTEXT)
    own_key = header_of(second).wrapped_keys[1]
    data_key = second_provider.unwrap(own_key, CONTEXT)
    section = keys_section(canonical_context(CONTEXT), [header_of(first).wrapped_keys[0], own_key])
    return first_provider, second_provider, first, seal(data_key, section, b"two")


def test_foreign_wrapped_key_skipped_cold() -> None:
    """Without a cache, a wrapped key of another data key is skipped for the next one."""
    first_provider, second_provider, _, forged = two_key_forgery()
    reader = EnvelopeCipher(first_provider, second_provider, segment_size=SEGMENT)

    assert reader.decrypt(forged, context=CONTEXT) == b"two"


def test_foreign_wrapped_key_skipped_warm() -> None:
    """With that wrapped key cached, it is still skipped for the next one."""
    first_provider, second_provider, first, forged = two_key_forgery()
    reader = EnvelopeCipher(first_provider, second_provider, cache=DataKeyCache())
    reader.decrypt(first, context=CONTEXT)

    assert reader.decrypt(forged, context=CONTEXT) == b"two"


def test_cached_key_keeps_context_binding() -> None:
    """A wrapped key cached under one context does not open a header with another context."""
    provider = FakeKeyProvider()
    writer = EnvelopeCipher(provider, segment_size=SEGMENT)
    original = writer.encrypt(b"data", context=CONTEXT)
    wrapped = header_of(original).wrapped_keys[0]
    data_key = provider.unwrap(wrapped, CONTEXT)
    other = {"tenant": "other"}
    moved = seal(data_key, keys_section(canonical_context(other), [wrapped]), b"forged")
    reader = EnvelopeCipher(provider, cache=DataKeyCache())
    reader.decrypt(original, context=CONTEXT)

    assert open_in_memory(writer, moved, other) is None
    with pytest.raises(DecryptionFailed):
        reader.decrypt(moved, context=other)


def test_retired_version_bypasses_warm_cache(local: LocalKeyProvider) -> None:
    """After its KEK version is retired, a message fails even with its data key cached."""
    cipher = EnvelopeCipher(local, segment_size=SEGMENT, cache=DataKeyCache())
    blob = cipher.encrypt(b"data", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    local.promote(local.add_version())
    local.retire(1)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context=CONTEXT)


# Threads.


def test_threads_round_trip(local: LocalKeyProvider, frequent_switches: None) -> None:
    """Concurrent encryption and decryption in both suites through a shared cache all round-trip."""
    cache = DataKeyCache(max_messages=7)
    ciphers = [
        EnvelopeCipher(local, suite=name, segment_size=SEGMENT, cache=cache) for name in SUITE_NAMES
    ]
    uncached = EnvelopeCipher(local, segment_size=SEGMENT)

    def round_trip(number: int) -> tuple[bytes, bytes | None, bytes | None, bytes | None]:
        data = plaintext_of(number % 3 * 700)
        context = {"tenant": f"tenant {number % 5}"}
        blob = ciphers[number % 2].encrypt(data, context=context)
        return (
            data,
            open_in_memory(ciphers[(number + 1) % 2], blob, context),
            open_in_memory(uncached, blob, context),
            open_streaming(ciphers[number % 2], blob, context),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(400)))

    assert [number for number, (data, *opened) in enumerate(results) if opened != [data] * 3] == []


def test_key_schedule_shared_by_threads(frequent_switches: None) -> None:
    """One KeySchedule used from many threads derives what HKDF derives for each message."""
    data_key = os.urandom(32)
    schedule = KeySchedule(data_key)
    message_ids = [os.urandom(32) for _ in range(2000)]

    def keys_of(message_id: bytes) -> tuple[bytes, bytes]:
        return schedule.message_keys(message_id, SUITES[1 + message_id[0] % 2])

    with ThreadPoolExecutor(max_workers=16) as pool:
        derived = list(pool.map(keys_of, message_ids))

    expected = [derive(data_key, 1 + message_id[0] % 2, message_id) for message_id in message_ids]
    assert derived == expected


def test_rotation_during_traffic(local: LocalKeyProvider, frequent_switches: None) -> None:
    """Messages written while versions are added and promoted all open and rewrap afterwards."""
    cipher = EnvelopeCipher(local, segment_size=SEGMENT, cache=DataKeyCache(max_messages=5))

    def rotate() -> None:
        for _ in range(4):
            local.promote(local.add_version())

    def round_trip(number: int) -> tuple[bytes, bytes, bytes | None]:
        data = plaintext_of(number)
        blob = cipher.encrypt(data, context=CONTEXT)
        return data, blob, open_in_memory(cipher, blob, CONTEXT)

    with ThreadPoolExecutor(max_workers=8) as pool:
        rotation = pool.submit(rotate)
        results = list(pool.map(round_trip, range(300)))
        rotation.result()
    reader = EnvelopeCipher(LocalKeyProvider.open(local.path), segment_size=SEGMENT)
    rewrapped = [cipher.rewrap(blob) for _, blob, _ in results]

    assert [number for number, (data, _, opened) in enumerate(results) if opened != data] == []
    assert [open_in_memory(reader, blob, CONTEXT) for blob in rewrapped] == [
        data for data, _, _ in results
    ]
    assert {EnvelopeCipher.inspect(blob).key_ids for blob in rewrapped} == {
        (("local", f"{local.keyset_id}/v5"),)
    }


def test_threads_parse_past_cache_limit(cold_caches: None, frequent_switches: None) -> None:
    """Threads parsing more sections than the cache can contain get what one thread gets."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    blobs = [
        cipher.encrypt(b"x", context={"record": str(number)})
        for number in range(_format._SECTIONS_MAX_ENTRIES * 2)
    ]
    expected = {index: header_of(blob) for index, blob in enumerate(blobs)}

    def parse_all(offset: int) -> dict[int, Header]:
        # Each thread starts at another message, so the threads clear and
        # refill the cache at different times.
        indices = [(number + offset) % len(blobs) for number in range(len(blobs))]
        return {index: header_of(blobs[index]) for index in indices}

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse_all, range(0, 8 * 61, 61)))

    assert [number for number, parsed in enumerate(results) if parsed != expected] == []


# LocalKeyProvider.can_unwrap after keyset changes.


def unwrappable_versions(provider: LocalKeyProvider) -> set[int]:
    """Return the versions whose key ids can_unwrap accepts."""
    return {
        info.version
        for info in provider.versions()
        if provider.can_unwrap(WrappedKey("local", info.key_id, b""))
    }


def test_can_unwrap_follows_changes(local: LocalKeyProvider) -> None:
    """can_unwrap accepts the versions that are not retired after every change and reopening."""
    steps: list[Callable[[], object]] = [
        local.add_version,
        lambda: local.promote(2),
        lambda: local.disable(1),
        lambda: local.enable(1),
        lambda: local.disable(1),
        lambda: local.retire(1),
        local.add_version,
        lambda: local.promote(3),
        lambda: local.retire(2),
        lambda: local.change_passphrase(None),
        local.save,
    ]

    observed = [unwrappable_versions(local)]
    for step in steps:
        step()
        observed.append(unwrappable_versions(local))
    reopened = LocalKeyProvider.open(local.path)

    assert observed == [
        {1},
        {1, 2},
        {1, 2},
        {1, 2},
        {1, 2},
        {1, 2},
        {2},
        {2, 3},
        {2, 3},
        {3},
        {3},
        {3},
    ]
    assert unwrappable_versions(reopened) == {3}
    assert {v.version for v in reopened.versions() if v.state is KeyVersionState.RETIRED} == {1, 2}


def test_failed_change_keeps_can_unwrap(local: LocalKeyProvider) -> None:
    """A change that fails because another writer changed the file leaves can_unwrap as it was."""
    local.add_version()
    other = LocalKeyProvider.open(local.path)
    other.add_version()

    with pytest.raises(KeyRingError):
        local.retire(2)

    assert unwrappable_versions(local) == {1, 2}
    assert not local.can_unwrap(WrappedKey("local", f"{local.keyset_id}/v3", b""))


KEY_ID_SPELLINGS = {
    "leading zero": "{keyset}/v01",
    "upper case v": "{keyset}/V1",
    "upper case keyset id": "{upper}/v1",
    "trailing space": "{keyset}/v1 ",
    "leading space": " {keyset}/v1",
    "trailing newline": "{keyset}/v1\n",
    "plus sign": "{keyset}/v+1",
    "arabic-indic digit": "{keyset}/v\u0661",
    "version zero": "{keyset}/v0",
    "no version": "{keyset}",
    "empty": "",
}


@pytest.mark.parametrize("spelling", KEY_ID_SPELLINGS.values(), ids=KEY_ID_SPELLINGS.keys())
def test_can_unwrap_exact_key_ids(local: LocalKeyProvider, spelling: str) -> None:
    """Only the exact key id of a version is accepted, not another spelling of it."""
    key_id = spelling.format(keyset=local.keyset_id, upper=local.keyset_id.upper())

    assert not local.can_unwrap(WrappedKey("local", key_id, b""))


@pytest.mark.parametrize(
    ("provider_id", "key_id"),
    [("Local", "{keyset}/v1"), ("local", b"{keyset}/v1"), ("local", None)],
    ids=["provider id case", "bytes key id", "none key id"],
)
def test_can_unwrap_malformed_fields(
    local: LocalKeyProvider, provider_id: str, key_id: object
) -> None:
    """A wrong provider id or a key id that is not a str is declined without an error."""
    if isinstance(key_id, str):
        key_id = key_id.format(keyset=local.keyset_id)
    if isinstance(key_id, bytes):
        key_id = key_id.replace(b"{keyset}", local.keyset_id.encode())
    wrapped = WrappedKey(provider_id, key_id, b"")  # type: ignore[arg-type]

    assert not local.can_unwrap(wrapped)


# Memory bounds of the caches under many distinct inputs.


def test_section_cache_bytes_bounded(cold_caches: None) -> None:
    """Many distinct sections near the size limit keep the cache within its entries and bytes."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)
    limit = _format._SECTIONS_MAX_ENTRIES

    for number in range(2 * limit):
        # One section in four is over the limit of cached section bytes.
        context = {"note": f"{number:04}" + "n" * (4200 if number % 4 == 0 else 3900)}
        header_of(cipher.encrypt(b"x", context=context))

    assert 0 < len(_format._sections) <= limit
    assert max(len(section) for section in _format._sections) <= _format._SECTIONS_MAX_BYTES


def test_invalid_sections_never_cached(cold_caches: None) -> None:
    """Headers whose sections fail to parse add nothing to the section cache."""
    blob = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT).encrypt(b"x", context=CONTEXT)
    length = header_length_field(blob)

    invalid = []
    for offset in range(PREFIX.size, length - 48):
        changed = flip(blob, offset, 0x80)
        if parse_or_none(changed) is None:
            invalid.append(changed[PREFIX.size : length - 48])

    assert len(invalid) > 10
    assert [section for section in invalid if section in _format._sections] == []


def test_context_caches_bounded(cold_caches: None) -> None:
    """A thousand distinct contexts keep both context caches within their entries and bytes."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)

    for number in range(1000):
        # Sizes from under to over the limit of cached context bytes.
        context = {"record": str(number), "note": "n" * (number * 37 % 1200)}
        cipher.decrypt(cipher.encrypt(b"x", context=context), context=context)

    assert 0 < len(_context._parsed) <= _context._PARSED_MAX_ENTRIES
    assert 0 < len(_context._canonical) <= _context._PARSED_MAX_ENTRIES
    assert max(len(data) for data in _context._parsed) <= _context._PARSED_MAX_BYTES
    assert max(len(data) for data in _context._canonical.values()) <= _context._PARSED_MAX_BYTES


def test_cipher_caches_bounded() -> None:
    """Many contexts keep the cipher's section table and a small data key cache bounded."""
    cache = DataKeyCache(max_entries=8)
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT, cache=cache)

    for number in range(200):
        context = {"record": str(number)}
        cipher.decrypt(cipher.encrypt(b"x", context=context), context=context)

    assert 0 < len(cipher._keys_sections) <= 64
    assert 0 < len(cache._encryption) <= 8
    assert 0 < len(cache._decryption) <= 8


# Rewrap.


def header_nonce_of(blob: bytes) -> bytes:
    """Return the documented header nonce of ``blob``: FF and 11 bytes of SHA-256."""
    signed = blob[: header_length_field(blob) - 16]
    return b"\xff" + hashlib.sha256(signed).digest()[:11]


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_rewrap_then_decrypt(local: LocalKeyProvider, suite: str) -> None:
    """A message rewrapped after rotation opens in both readers once the old version is retired."""
    cipher = EnvelopeCipher(local, suite=suite, segment_size=SEGMENT, cache=DataKeyCache())
    data = plaintext_of(2 * SEGMENT + 5)
    blob = cipher.encrypt(data, context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)
    local.promote(local.add_version())

    rewrapped = cipher.rewrap(blob)
    local.retire(1)
    reader = EnvelopeCipher(LocalKeyProvider.open(local.path))

    assert EnvelopeCipher.inspect(rewrapped).key_ids == (("local", f"{local.keyset_id}/v2"),)
    assert open_in_memory(reader, rewrapped, CONTEXT) == data
    assert open_streaming(reader, rewrapped, CONTEXT) == data
    assert open_in_memory(cipher, blob, CONTEXT) is None


def test_rewrap_seals_under_new_nonces(local: LocalKeyProvider) -> None:
    """Each rewrap keeps message id and commitment but seals its header under a new nonce."""
    cipher = EnvelopeCipher(local, segment_size=SEGMENT)
    blobs = [cipher.encrypt(b"data", context=CONTEXT)]
    for _ in range(3):
        local.promote(local.add_version())
        blobs.append(cipher.rewrap(blobs[-1]))
    headers = [header_of(blob) for blob in blobs]
    data_key = local.unwrap(headers[0].wrapped_keys[0], CONTEXT)
    content_key, _ = derive(data_key, 1, headers[0].message_id)

    # Each tag must verify under the documented nonce, so distinct
    # documented nonces are the nonces actually used.
    verified = [
        AESGCM(content_key).decrypt(header_nonce_of(blob), header.tag, header.signed_bytes)
        for blob, header in zip(blobs, headers, strict=True)
    ]

    assert verified == [b""] * len(blobs)
    assert len({header_nonce_of(blob) for blob in blobs}) == len(blobs)
    assert {header.message_id for header in headers} == {headers[0].message_id}
    assert {header.commitment for header in headers} == {headers[0].commitment}
    assert [cipher.decrypt(blob, context=CONTEXT) for blob in blobs] == [b"data"] * len(blobs)


def test_rewrap_rejects_forged_length() -> None:
    """A message with a forged header length is rejected by rewrap before any provider call."""
    provider = FakeKeyProvider()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    blob = cipher.encrypt(b"data", context=CONTEXT)
    length = header_length_field(blob)

    for forged in (length - 1, length + 1, length + 16):
        with pytest.raises(DecryptionFailed):
            cipher.rewrap(with_header_length(blob, forged))

    assert provider.calls["unwrap"] == 0
    assert provider.calls["rewrap"] == 0
