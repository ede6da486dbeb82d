"""EnvelopeCipher on whole messages: round trips, contexts, providers, tampering, rewrap, secrets.

Messages use the smallest segment size, 1,024 bytes, so a message of a few
kilobytes has several segments and every byte of it can be flipped in a
test. The key providers are :class:`crypto_support.FakeKeyProvider`.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_support import (
    ContextDict,
    ContextView,
    Failure,
    FakeKeyProvider,
    Region,
    flip,
    message_regions,
    secret_forms,
    split_message,
)
from jivs_security.crypto import _cipher
from jivs_security.crypto._cache import DataKeyCache
from jivs_security.crypto._cipher import EnvelopeCipher, MessageInfo
from jivs_security.crypto._format import MAX_WRAPPED_KEYS, Header, read_header
from jivs_security.crypto._provider import WrappedKey
from jivs_security.crypto._stream import exact_reader
from jivs_security.crypto._suite import SUITES, KeySchedule, suite_by_name
from jivs_security.errors import ConfigurationError, DecryptionFailed, KeyUnavailable

SEGMENT = 1024
TAG = 16
CONTEXT = {"tenant": "acme", "purpose": "invoice"}
SUITE_NAMES = ["aes-256-gcm", "chacha20-poly1305"]

# Plaintext sizes around the segment boundaries, and one of several segments.
SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5]

# Each byte is flipped with each mask: the lowest bit, the highest bit and all bits.
MASKS = (0x01, 0x80, 0xFF)

# The tamper tests use a message with two wrapped keys and three segments.
KEY_PARTS = [
    "provider id length",
    "provider id",
    "key id length",
    "key id",
    "ciphertext length",
    "ciphertext",
]
HEADER_REGIONS = [
    "magic",
    "version",
    "suite",
    "segment size",
    "header length",
    "message id",
    "context length",
    "context",
    "key count",
    *[f"key {index} {part}" for index in range(2) for part in KEY_PARTS],
    "commitment",
    "header tag",
]
BODY_REGIONS = [f"segment {number} {part}" for number in range(3) for part in ("ciphertext", "tag")]


@pytest.fixture
def provider() -> FakeKeyProvider:
    """The provider that generates data keys."""
    return FakeKeyProvider("primary")


@pytest.fixture
def backup() -> FakeKeyProvider:
    """A second provider of another kind, which wraps the same data keys."""
    return FakeKeyProvider("backup", provider_id="fake-backup")


@pytest.fixture
def cipher(provider: FakeKeyProvider) -> EnvelopeCipher:
    """A cipher with one provider and 1,024-byte segments."""
    return EnvelopeCipher(provider, segment_size=SEGMENT)


def header_of(blob: bytes) -> Header:
    """Parse a message's header with the library's parser."""
    return read_header(exact_reader(io.BytesIO(blob)), frozenset(SUITES))


def segment_count(plaintext_bytes: int) -> int:
    """Return how many segments a plaintext of this size is sealed in: at least one."""
    return max(1, -(-plaintext_bytes // SEGMENT))


# Round trips.


@pytest.mark.parametrize("suite", SUITE_NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(provider: FakeKeyProvider, suite: str, size: int) -> None:
    """Every plaintext size around the segment boundaries decrypts to itself."""
    cipher = EnvelopeCipher(provider, suite=suite, segment_size=SEGMENT)
    data = os.urandom(size)

    blob = cipher.encrypt(data, context=CONTEXT)

    assert cipher.decrypt(blob, context=CONTEXT) == data


@pytest.mark.parametrize("size", SIZES)
def test_ciphertext_length_formula(cipher: EnvelopeCipher, size: int) -> None:
    """A message is its header, the plaintext and one 16-byte tag per segment."""
    blob = cipher.encrypt(os.urandom(size), context=CONTEXT)

    header_size = EnvelopeCipher.inspect(blob).header_size

    assert len(blob) == header_size + size + TAG * segment_count(size)


def test_empty_plaintext_one_segment(cipher: EnvelopeCipher) -> None:
    """An empty plaintext is sealed as one empty final segment: a bare tag."""
    blob = cipher.encrypt(b"")

    _, segments = split_message(blob)

    assert [len(segment) for segment in segments] == [TAG]


def test_same_plaintext_differs(cipher: EnvelopeCipher) -> None:
    """Two encryptions of one plaintext share no header or body bytes."""
    first = cipher.encrypt(b"same", context=CONTEXT)
    second = cipher.encrypt(b"same", context=CONTEXT)

    first_header, second_header = header_of(first), header_of(second)

    assert first_header.message_id != second_header.message_id
    assert first_header.wrapped_keys[0].ciphertext != second_header.wrapped_keys[0].ciphertext
    assert split_message(first)[1] != split_message(second)[1]


def test_bytearray_and_memoryview_accepted(cipher: EnvelopeCipher) -> None:
    """Any contiguous bytes-like object encrypts and decrypts."""
    data = bytearray(b"bytes-like")

    blob = cipher.encrypt(memoryview(data))  # type: ignore[arg-type]

    assert cipher.decrypt(bytearray(blob)) == data  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=3 * SEGMENT + 10),
    context=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4),
)
def test_round_trip_property(data: bytes, context: dict[str, str]) -> None:
    """Any plaintext and context round-trip."""
    cipher = EnvelopeCipher(FakeKeyProvider(), segment_size=SEGMENT)

    blob = cipher.encrypt(data, context=context)

    assert cipher.decrypt(blob, context=context) == data


# Encryption context.

WRONG_CONTEXTS: dict[str, Mapping[str, str] | None] = {
    "different value": {"tenant": "other", "purpose": "invoice"},
    "extra pair": {**CONTEXT, "region": "eu"},
    "missing pair": {"tenant": "acme"},
    "other key case": {"Tenant": "acme", "purpose": "invoice"},
    "none": None,
    "empty": {},
}


@pytest.mark.parametrize("wrong", WRONG_CONTEXTS.values(), ids=WRONG_CONTEXTS.keys())
def test_wrong_context_rejected(cipher: EnvelopeCipher, wrong: Mapping[str, str] | None) -> None:
    """Decryption with any other context fails."""
    blob = cipher.encrypt(b"data", context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context=wrong)


def test_wrong_context_skips_key_service(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """A context mismatch is found before any unwrap call."""
    blob = cipher.encrypt(b"data", context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context={"tenant": "other"})

    assert provider.calls["unwrap"] == 0


@pytest.mark.parametrize(("encrypted_with", "decrypted_with"), [(None, {}), ({}, None)])
def test_none_context_equals_empty(
    cipher: EnvelopeCipher,
    encrypted_with: Mapping[str, str] | None,
    decrypted_with: Mapping[str, str] | None,
) -> None:
    """No context and an empty context are the same context."""
    blob = cipher.encrypt(b"data", context=encrypted_with)

    assert cipher.decrypt(blob, context=decrypted_with) == b"data"


def test_context_order_irrelevant(cipher: EnvelopeCipher) -> None:
    """The order in which pairs are given does not matter."""
    blob = cipher.encrypt(b"data", context={"a": "1", "b": "2"})

    assert cipher.decrypt(blob, context={"b": "2", "a": "1"}) == b"data"


def test_invalid_context_rejected_on_decrypt(
    cipher: EnvelopeCipher, provider: FakeKeyProvider
) -> None:
    """A context that cannot be serialised raises ConfigurationError, not DecryptionFailed."""
    blob = cipher.encrypt(b"data", context=CONTEXT)

    with pytest.raises(ConfigurationError):
        cipher.decrypt(blob, context={**CONTEXT, "tenant": 42})  # type: ignore[dict-item]

    assert provider.calls["unwrap"] == 0


@pytest.mark.parametrize("mapping", [MappingProxyType, ContextView, ContextDict])
def test_any_mapping_context_accepted(
    cipher: EnvelopeCipher, mapping: Callable[[dict[str, str]], Mapping[str, str]]
) -> None:
    """Mappings other than a plain dict decrypt when equal and fail when different."""
    blob = cipher.encrypt(b"data", context=CONTEXT)

    assert cipher.decrypt(blob, context=mapping(dict(CONTEXT))) == b"data"
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context=mapping({**CONTEXT, "tenant": "other"}))


def test_invalid_context_rejected_on_encrypt(
    cipher: EnvelopeCipher, provider: FakeKeyProvider
) -> None:
    """A context that cannot be serialised fails before a data key is made."""
    with pytest.raises(ConfigurationError):
        cipher.encrypt(b"data", context={"tenant": 42})  # type: ignore[dict-item]

    assert provider.service_calls == 0


# Configuration.


def test_unknown_suite_rejected(provider: FakeKeyProvider) -> None:
    """A suite name that does not exist names the accepted ones."""
    with pytest.raises(ConfigurationError, match="aes-256-gcm, chacha20-poly1305"):
        EnvelopeCipher(provider, suite="aes-128-cbc")


@pytest.mark.parametrize("size", [0, 1023, 16 * 1024 * 1024 + 1, 1024.0, "4096"])
def test_segment_size_out_of_range(provider: FakeKeyProvider, size: object) -> None:
    """Segment sizes outside 1 KiB to 16 MiB, or not int, are rejected."""
    with pytest.raises(ConfigurationError) as caught:
        EnvelopeCipher(provider, segment_size=size)  # type: ignore[arg-type]

    assert caught.value.setting == "segment_size"


@pytest.mark.parametrize("size", [1024, 16 * 1024 * 1024])
def test_segment_size_limits_accepted(provider: FakeKeyProvider, size: int) -> None:
    """The smallest and largest segment sizes round-trip."""
    cipher = EnvelopeCipher(provider, segment_size=size)

    blob = cipher.encrypt(b"x" * 3000)

    assert cipher.decrypt(blob) == b"x" * 3000


def test_non_provider_rejected(provider: FakeKeyProvider) -> None:
    """An object that is not a key provider is named in the error."""
    with pytest.raises(ConfigurationError, match="str is not a key provider"):
        EnvelopeCipher(provider, "not a provider")  # type: ignore[arg-type]


def test_provider_limit_accepted() -> None:
    """A cipher with the maximum number of providers round-trips with the last one alone."""
    providers = [FakeKeyProvider(f"kek{index}") for index in range(MAX_WRAPPED_KEYS)]
    blob = EnvelopeCipher(*providers, segment_size=SEGMENT).encrypt(b"data")

    last_only = EnvelopeCipher(providers[-1], segment_size=SEGMENT)

    assert last_only.decrypt(blob) == b"data"


def test_provider_limit_exceeded() -> None:
    """One provider over the header's wrapped-key limit is rejected when the cipher is built."""
    providers = [FakeKeyProvider(f"kek{index}") for index in range(MAX_WRAPPED_KEYS + 1)]

    with pytest.raises(ConfigurationError, match="17 key providers"):
        EnvelopeCipher(*providers)


# Several providers and key-service failures.


@pytest.mark.parametrize("holder", ["provider", "backup"])
def test_either_provider_decrypts(
    provider: FakeKeyProvider, backup: FakeKeyProvider, holder: str
) -> None:
    """A message wrapped under two providers decrypts with either one alone."""
    blob = EnvelopeCipher(provider, backup, segment_size=SEGMENT).encrypt(b"data", context=CONTEXT)
    alone = EnvelopeCipher(provider if holder == "provider" else backup)

    assert alone.decrypt(blob, context=CONTEXT) == b"data"


def test_first_provider_generates(provider: FakeKeyProvider, backup: FakeKeyProvider) -> None:
    """The first provider generates the data key and the second only wraps it."""
    EnvelopeCipher(provider, backup).encrypt(b"data")

    assert provider.calls == {"generate": 1}
    assert backup.calls == {"wrap": 1}


def test_all_unavailable_raises_key_unavailable(
    provider: FakeKeyProvider, backup: FakeKeyProvider
) -> None:
    """When no provider can be reached, decryption raises a retryable KeyUnavailable."""
    cipher = EnvelopeCipher(provider, backup)
    blob = cipher.encrypt(b"data")
    provider.fail(Failure.UNAVAILABLE)
    backup.fail(Failure.UNAVAILABLE)

    with pytest.raises(KeyUnavailable) as caught:
        cipher.decrypt(blob)

    assert caught.value.retryable
    assert caught.value.provider in {"fake", "fake-backup"}


@pytest.mark.parametrize("down", ["provider", "backup"])
def test_one_unavailable_other_decrypts(
    provider: FakeKeyProvider, backup: FakeKeyProvider, down: str
) -> None:
    """One provider that cannot be reached is skipped when another opens the key."""
    cipher = EnvelopeCipher(provider, backup)
    blob = cipher.encrypt(b"data")
    (provider if down == "provider" else backup).fail(Failure.UNAVAILABLE)

    assert cipher.decrypt(blob) == b"data"


def test_unavailable_and_rejected_raises_key_unavailable(
    provider: FakeKeyProvider, backup: FakeKeyProvider
) -> None:
    """One provider down and one rejecting its key raises KeyUnavailable: a retry may work."""
    cipher = EnvelopeCipher(provider, backup)
    blob = cipher.encrypt(b"data")
    provider.fail(Failure.DECRYPTION_FAILED)
    backup.fail(Failure.UNAVAILABLE)

    with pytest.raises(KeyUnavailable) as caught:
        cipher.decrypt(blob)

    assert caught.value.provider == "fake-backup"


def test_all_rejected_raises_decryption_failed(
    provider: FakeKeyProvider, backup: FakeKeyProvider
) -> None:
    """When every provider rejects its wrapped key, decryption fails."""
    cipher = EnvelopeCipher(provider, backup)
    blob = cipher.encrypt(b"data")
    provider.fail(Failure.DECRYPTION_FAILED)
    backup.fail(Failure.DECRYPTION_FAILED)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob)


def test_no_configured_provider_warns(
    cipher: EnvelopeCipher, caplog: pytest.LogCaptureFixture
) -> None:
    """A message for keys this cipher lacks fails as DecryptionFailed and logs the key ids."""
    blob = EnvelopeCipher(FakeKeyProvider("elsewhere")).encrypt(b"data")
    caplog.set_level(logging.WARNING, logger="jivs_security.crypto")

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob)

    assert "fake:elsewhere/v1" in caplog.text


def test_retired_kek_fails(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """A message whose only KEK version was retired cannot be decrypted."""
    blob = cipher.encrypt(b"data")
    provider.rotate()
    provider.retire(1)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob)


def test_encrypt_unavailable_raises(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """A provider that cannot make a data key fails encryption with its ids."""
    provider.fail(Failure.UNAVAILABLE)

    with pytest.raises(KeyUnavailable) as caught:
        cipher.encrypt(b"data")

    assert caught.value.provider == "fake"
    assert caught.value.key_id == "primary/v1"


def test_second_provider_unavailable_fails(
    provider: FakeKeyProvider, backup: FakeKeyProvider
) -> None:
    """Encryption fails when any provider cannot wrap, so no message lacks a wrapped key."""
    backup.fail(Failure.UNAVAILABLE)

    with pytest.raises(KeyUnavailable):
        EnvelopeCipher(provider, backup).encrypt(b"data")


# Tampering: every byte of a small message with two wrapped keys and three segments.


@pytest.fixture(scope="module")
def tamper_case() -> tuple[EnvelopeCipher, bytes, dict[str, Region]]:
    """A cipher with two providers, a three-segment message and its named regions."""
    cipher = EnvelopeCipher(
        FakeKeyProvider("primary"),
        FakeKeyProvider("backup", provider_id="fake-backup"),
        segment_size=SEGMENT,
    )
    blob = cipher.encrypt(os.urandom(2 * SEGMENT + 100), context=CONTEXT)
    return cipher, blob, {region.name: region for region in message_regions(blob)}


def flips(blob: bytes, region: Region) -> Iterator[tuple[int, int, bytes]]:
    """Yield each offset and mask of ``region`` with the message that flip produces."""
    for offset in range(region.start, region.end):
        for mask in MASKS:
            yield offset, mask, flip(blob, offset, mask)


def accepted_flips(decrypt: Callable[[bytes], object], blob: bytes, region: Region) -> list[str]:
    """Return the flips in ``region`` that ``decrypt`` accepted; other errors propagate, noted."""
    accepted = []
    for offset, mask, changed in flips(blob, region):
        try:
            decrypt(changed)
        except DecryptionFailed:
            continue
        except Exception as error:
            error.add_note(f"raised for byte {offset} flipped with {mask:#04x}")
            raise
        accepted.append(f"byte {offset} flipped with {mask:#04x}")
    return accepted


def test_regions_cover_message(
    tamper_case: tuple[EnvelopeCipher, bytes, dict[str, Region]],
) -> None:
    """The documented layout names every byte of the message, in order, up to its end."""
    _, blob, regions = tamper_case

    ordered = list(regions.values())

    assert [region.name for region in ordered] == HEADER_REGIONS + BODY_REGIONS
    assert ordered[-1].end == len(blob)
    assert regions["header tag"].end == EnvelopeCipher.inspect(blob).header_size


@pytest.mark.parametrize("name", HEADER_REGIONS + BODY_REGIONS)
def test_tampered_region_rejected(
    tamper_case: tuple[EnvelopeCipher, bytes, dict[str, Region]], name: str
) -> None:
    """Flipping any bit pattern in any byte of the region raises DecryptionFailed."""
    cipher, blob, regions = tamper_case

    accepted = accepted_flips(
        lambda changed: cipher.decrypt(changed, context=CONTEXT), blob, regions[name]
    )

    assert accepted == []


@pytest.mark.parametrize(("original", "substitute"), [(1, 2), (2, 1)])
def test_suite_swap_rejected(provider: FakeKeyProvider, original: int, substitute: int) -> None:
    """A header relabelled with the other suite fails, because the commitment covers the suite."""
    cipher = EnvelopeCipher(provider, suite=SUITES[original].name, segment_size=SEGMENT)
    blob = bytearray(cipher.encrypt(b"data"))
    blob[5:7] = substitute.to_bytes(2, "big")

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(bytes(blob))


def test_failure_message_uniform(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """Every cause of DecryptionFailed shows the same message, so none is an oracle."""
    blob = cipher.encrypt(b"data", context=CONTEXT)
    header_size = EnvelopeCipher.inspect(blob).header_size
    attempts: list[Callable[[], object]] = [
        lambda: cipher.decrypt(blob, context={}),
        lambda: cipher.decrypt(flip(blob, 0, 1), context=CONTEXT),
        lambda: cipher.decrypt(flip(blob, header_size - 1, 1), context=CONTEXT),
        lambda: cipher.decrypt(flip(blob, len(blob) - 1, 1), context=CONTEXT),
        lambda: cipher.decrypt(blob[:-1], context=CONTEXT),
        lambda: EnvelopeCipher(FakeKeyProvider("other")).decrypt(blob, context=CONTEXT),
    ]

    messages = set()
    for attempt in attempts:
        with pytest.raises(DecryptionFailed) as caught:
            attempt()
        messages.add(str(caught.value))

    assert len(messages) == 1


# Inspection.


def test_inspect_reports_header(provider: FakeKeyProvider, backup: FakeKeyProvider) -> None:
    """inspect returns the suite, segment size, context and key ids without any key."""
    blob = EnvelopeCipher(provider, backup, suite="chacha20-poly1305", segment_size=2048).encrypt(
        b"data", context=CONTEXT
    )

    info = EnvelopeCipher.inspect(blob)

    assert info.suite == "chacha20-poly1305"
    assert info.segment_size == 2048
    assert info.context == CONTEXT
    assert info.key_ids == (("fake", "primary/v1"), ("fake-backup", "backup/v1"))
    assert info.header_size == len(blob) - len(b"data") - TAG
    assert provider.calls["unwrap"] == 0


@pytest.mark.parametrize("blob", [b"", b"JVEF", b"not an envelope at all" * 10])
def test_inspect_rejects_garbage(blob: bytes) -> None:
    """Bytes that are not a header raise DecryptionFailed."""
    with pytest.raises(DecryptionFailed):
        EnvelopeCipher.inspect(blob)


# Rewrap.


def test_rewrap_changes_key_ids(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """After rotation, rewrap names the new KEK version."""
    blob = cipher.encrypt(b"data", context=CONTEXT)
    provider.rotate()

    rewrapped = cipher.rewrap(blob)

    assert EnvelopeCipher.inspect(rewrapped).key_ids == (("fake", "primary/v2"),)


def test_rewrap_keeps_body_bytes(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """Rewrap changes only the wrapped keys and the header tag."""
    blob = cipher.encrypt(os.urandom(3 * SEGMENT), context=CONTEXT)
    provider.rotate()

    rewrapped = cipher.rewrap(blob)

    old, new = header_of(blob), header_of(rewrapped)
    assert rewrapped[new.size :] == blob[old.size :]
    assert new.message_id == old.message_id
    assert new.commitment == old.commitment
    assert new.context_bytes == old.context_bytes
    assert new.tag != old.tag


def test_rewrapped_survives_retirement(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """A rewrapped message decrypts after the old KEK version is retired."""
    blob = cipher.encrypt(b"data", context=CONTEXT)
    provider.rotate()
    rewrapped = cipher.rewrap(blob)

    provider.retire(1)

    assert cipher.decrypt(rewrapped, context=CONTEXT) == b"data"


def test_rewrap_costs_one_unwrap(cipher: EnvelopeCipher, provider: FakeKeyProvider) -> None:
    """Rewrap makes one unwrap call to verify the header and one rewrap call per key."""
    blob = cipher.encrypt(b"data")
    provider.calls.clear()

    cipher.rewrap(blob)

    assert provider.calls == {"unwrap": 1, "rewrap": 1}


def test_rewrap_keeps_foreign_keys(provider: FakeKeyProvider, backup: FakeKeyProvider) -> None:
    """Wrapped keys of providers the rewrapping cipher lacks are kept, and still decrypt."""
    blob = EnvelopeCipher(provider, backup).encrypt(b"data", context=CONTEXT)
    provider.rotate()

    rewrapped = EnvelopeCipher(provider).rewrap(blob)

    assert EnvelopeCipher.inspect(rewrapped).key_ids[1] == ("fake-backup", "backup/v1")
    assert EnvelopeCipher(backup).decrypt(rewrapped, context=CONTEXT) == b"data"


@pytest.mark.parametrize("name", HEADER_REGIONS)
def test_rewrap_rejects_tampered_header(
    tamper_case: tuple[EnvelopeCipher, bytes, dict[str, Region]], name: str
) -> None:
    """Rewrap verifies the header first, so it never seals a tampered header anew."""
    cipher, blob, regions = tamper_case

    accepted = accepted_flips(cipher.rewrap, blob, regions[name])

    assert accepted == []


def test_rewrap_tampered_body_still_fails(
    cipher: EnvelopeCipher, provider: FakeKeyProvider
) -> None:
    """Rewrap copies the body unverified, and a tampered body still fails decryption."""
    blob = flip(cipher.encrypt(b"data", context=CONTEXT), -1, 1)
    provider.rotate()

    rewrapped = cipher.rewrap(blob)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(rewrapped, context=CONTEXT)


def test_rewrap_logs_one_line(cipher: EnvelopeCipher, caplog: pytest.LogCaptureFixture) -> None:
    """Rewrap logs one DEBUG line naming the new key ids, and nothing at INFO for bulk runs."""
    blob = cipher.encrypt(b"data")
    caplog.set_level(logging.DEBUG, logger="jivs_security")

    cipher.rewrap(blob)

    records = [record for record in caplog.records if record.name == "jivs_security.crypto"]
    assert [record.levelno for record in records] == [logging.DEBUG]
    assert "fake:primary/v1" in records[0].getMessage()


# GCM's authentication works in GF(2^128) with this reduction constant
# (NIST SP 800-38D, section 6.3).
GCM_REDUCTION = 0xE1 << 120


def gf128_multiply(x: int, y: int) -> int:
    """Multiply two blocks in GCM's field, bit 0 being the most significant (SP 800-38D, 6.3)."""
    product = 0
    for bit in range(127, -1, -1):
        if x >> bit & 1:
            product ^= y
        y = (y >> 1) ^ GCM_REDUCTION if y & 1 else y >> 1
    return product


def ghash(hash_key: int, aad: bytes) -> int:
    """Return GHASH of ``aad`` and an empty ciphertext (SP 800-38D, section 7.1, steps 5 and 6)."""
    padded = aad + bytes(-len(aad) % 16)
    blocks = [padded[start : start + 16] for start in range(0, len(padded), 16)]
    blocks.append((len(aad) * 8).to_bytes(8, "big") + bytes(8))
    state = 0
    for block in blocks:
        state = gf128_multiply(state ^ int.from_bytes(block, "big"), hash_key)
    return state


def aes_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one 16-byte block with raw AES."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def test_ghash_helper_matches_gcm() -> None:
    """The GHASH helper reproduces an AES-GCM tag, so the nonce test below can be trusted."""
    key, nonce, aad = os.urandom(32), os.urandom(12), os.urandom(100)
    hash_key = int.from_bytes(aes_block(key, bytes(16)), "big")
    mask = int.from_bytes(aes_block(key, nonce + b"\x00\x00\x00\x01"), "big")

    expected = AESGCM(key).encrypt(nonce, b"", aad)

    assert (ghash(hash_key, aad) ^ mask).to_bytes(16, "big") == expected


def test_rewrap_never_reuses_header_nonce(
    cipher: EnvelopeCipher, provider: FakeKeyProvider
) -> None:
    """Old and rewrapped headers are sealed under different GCM nonces.

    Under one key and nonce, two tags differ by exactly the difference of
    their GHASH values, and anyone holding both headers could then solve for
    the GHASH key and forge tags for the header and every segment.
    """
    blob = cipher.encrypt(b"data", context=CONTEXT)
    provider.rotate()
    rewrapped = cipher.rewrap(blob)
    old, new = header_of(blob), header_of(rewrapped)
    data_key = provider.unwrap(old.wrapped_keys[0], CONTEXT)
    schedule = KeySchedule(data_key)
    content_key, _ = schedule.message_keys(old.message_id, suite_by_name("aes-256-gcm"))
    hash_key = int.from_bytes(aes_block(content_key, bytes(16)), "big")

    tag_difference = int.from_bytes(old.tag, "big") ^ int.from_bytes(new.tag, "big")
    ghash_difference = ghash(hash_key, old.signed_bytes) ^ ghash(hash_key, new.signed_bytes)

    assert tag_difference != ghash_difference


# Secrets: no key material in repr, str, errors or logs.


def key_material(provider: FakeKeyProvider, blob: bytes, context: Mapping[str, str]) -> list[bytes]:
    """Return the KEK, the data key, the content key and the commitment key of ``blob``."""
    header = header_of(blob)
    data_key = provider.unwrap(header.wrapped_keys[0], context)
    content_key, _ = KeySchedule(data_key).message_keys(header.message_id, SUITES[header.suite])
    return [provider.kek(1), data_key, content_key]


def leaks(text: str, secrets: list[bytes]) -> list[str]:
    """Return each form of each secret that appears in ``text``."""
    return [form for secret in secrets for form in secret_forms(secret) if form in text]


def test_reprs_hold_no_keys(provider: FakeKeyProvider) -> None:
    """repr and str of the cipher, cache, header info and wrapped keys show no key material."""
    cache = DataKeyCache()
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=cache)
    blob = cipher.encrypt(b"plaintext", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)
    info: MessageInfo = EnvelopeCipher.inspect(blob)
    secrets = key_material(provider, blob, CONTEXT)
    entries = [*cache._encryption.values(), *cache._decryption.values()]

    texts = [repr(cipher), str(cipher), repr(cache), str(cache), repr(info), str(info)]
    texts += [repr(wrapped) for wrapped in info.wrapped_keys]
    texts += [repr(entry) for entry in entries]

    assert leaks("\n".join(texts), secrets) == []
    assert "ciphertext=<60 bytes>" in repr(info.wrapped_keys[0])
    assert len(entries) == 2


def test_errors_hold_no_keys(provider: FakeKeyProvider) -> None:
    """Error messages and fields of failed operations show no key material."""
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)
    blob = cipher.encrypt(b"plaintext", context=CONTEXT)
    secrets = key_material(provider, blob, CONTEXT)
    errors: list[Exception] = []
    for changed in (flip(blob, len(blob) - 1, 1), flip(blob, 20, 1)):
        with pytest.raises(DecryptionFailed) as failed:
            cipher.decrypt(changed, context=CONTEXT)
        errors.append(failed.value)
    provider.fail(Failure.UNAVAILABLE)
    with pytest.raises(KeyUnavailable) as unavailable:
        cipher.decrypt(blob, context=CONTEXT)
    errors.append(unavailable.value)

    texts = [f"{error!s} {error!r} {vars(error)!r}" for error in errors]

    assert leaks("\n".join(texts), [*secrets, b"plaintext"]) == []


def test_logs_hold_no_keys(provider: FakeKeyProvider, caplog: pytest.LogCaptureFixture) -> None:
    """Debug logs of encrypting, decrypting, failing and rewrapping show no key material."""
    caplog.set_level(logging.DEBUG)
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT, cache=DataKeyCache())
    blob = cipher.encrypt(b"plaintext", context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(flip(blob, -1, 1), context=CONTEXT)
    with pytest.raises(DecryptionFailed):
        EnvelopeCipher(FakeKeyProvider("other")).decrypt(blob, context=CONTEXT)
    provider.rotate()
    cipher.rewrap(blob)
    secrets = key_material(provider, blob, CONTEXT)

    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in caplog.records
    )

    assert leaks(logged, [*secrets, b"plaintext"]) == []
    assert [record.levelname for record in caplog.records] == ["WARNING", "DEBUG"]


class OutageOnLookup(FakeKeyProvider):
    """A provider whose can_unwrap calls a key service that is down, as AWS KMS may."""

    def can_unwrap(self, wrapped: WrappedKey) -> bool:
        """Raise KeyUnavailable, as a failed key lookup would."""
        raise KeyUnavailable(
            "the key lookup failed",
            provider=self.provider_id,
            key_id=wrapped.key_id,
            retryable=True,
        )


def test_lookup_outage_tries_next_key(provider: FakeKeyProvider, backup: FakeKeyProvider) -> None:
    """A can_unwrap outage on the first wrapped key falls through to the second one."""
    blob = EnvelopeCipher(provider, backup).encrypt(b"data", context=CONTEXT)
    reader = EnvelopeCipher(OutageOnLookup("primary"), backup)

    assert reader.decrypt(blob, context=CONTEXT) == b"data"


def test_lookup_outage_alone_unavailable(provider: FakeKeyProvider) -> None:
    """With no other wrapped key to try, a can_unwrap outage raises KeyUnavailable."""
    blob = EnvelopeCipher(provider).encrypt(b"data", context=CONTEXT)
    reader = EnvelopeCipher(OutageOnLookup("primary"))

    with pytest.raises(KeyUnavailable):
        reader.decrypt(blob, context=CONTEXT)


class ShortKeyProvider(FakeKeyProvider):
    """A faulty provider whose generate returns a data key of the wrong length."""

    def generate(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Return a 16-byte key with a wrapped form of a real one."""
        data_key, wrapped = super().generate(context)
        return data_key[:16], wrapped


def test_short_data_key_rejected() -> None:
    """A provider that generates a data key of the wrong length fails before anything is sealed."""
    cipher = EnvelopeCipher(ShortKeyProvider())
    destination = io.BytesIO()

    with pytest.raises(ConfigurationError, match="16 bytes as a data key"):
        cipher.encrypt(b"data", context=CONTEXT)
    with pytest.raises(ConfigurationError, match="16 bytes as a data key"):
        cipher.encrypt_stream(io.BytesIO(b"data"), destination, context=CONTEXT)

    assert destination.getvalue() == b""


def test_segment_limit_checked_in_memory(
    provider: FakeKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message over the segment limit fails before any key-service call."""
    monkeypatch.setattr(_cipher, "MAX_SEGMENTS", 2)
    cipher = EnvelopeCipher(provider, segment_size=SEGMENT)

    with pytest.raises(ConfigurationError, match="more than 2 segments"):
        cipher.encrypt(bytes(2 * SEGMENT + 1), context=CONTEXT)

    assert provider.service_calls == 0
    assert cipher.decrypt(cipher.encrypt(bytes(2 * SEGMENT)), context=None) == bytes(2 * SEGMENT)


def test_unwrap_prefers_retryable_outage() -> None:
    """With one provider down for now and one failing for good, the error says retry may help."""
    down = FakeKeyProvider("down")
    broken = FakeKeyProvider("broken")
    blob = EnvelopeCipher(down, broken).encrypt(b"payload")
    down.fail(Failure.UNAVAILABLE)
    broken.fail(Failure.UNAVAILABLE)
    broken.retryable = False

    with pytest.raises(KeyUnavailable) as caught:
        EnvelopeCipher(down, broken).decrypt(blob)

    assert caught.value.retryable is True
